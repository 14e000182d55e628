using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;
using Npgsql;

namespace Kinema.EndToEnd.MultiNode;

/// <summary>
/// PostgreSQL goes away under a running node (the wire to it is cut: connections reset, new ones refused) and comes
/// back. Meanwhile the API answers 503 in the contract's format with Retry-After, never a 500; readiness says not ready;
/// every background loop says so in one line rather than a stack trace a second; and when the database is back the node
/// carries on by itself, with every task accepted before the cut still there.
/// </summary>
public sealed partial class StoreOutageTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kinema-outage", Guid.NewGuid().ToString("N"));
    private string _database = null!;
    private CuttableTcpProxy _proxy = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        var direct = new NpgsqlConnectionStringBuilder(_database);
        _proxy = CuttableTcpProxy.To(direct.Host!, direct.Port);
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await TestPostgres.DropDatabaseAsync(_database);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Postgres_cut_off_answers_503_logs_one_line_per_loop_and_the_node_recovers_by_itself()
    {
        var throughProxy = new NpgsqlConnectionStringBuilder(_database) { Host = "127.0.0.1", Port = _proxy.Port, Timeout = 3 }.ConnectionString;
        await using var server = await ServerProcess.StartAsync(_root, new Dictionary<string, string>
        {
            ["KINEMA__STORE__PROVIDER"] = "postgres",
            ["ConnectionStrings__Kinema"] = throughProxy,
            ["KINEMA__ANIMATIC__PRESET"] = "ultrafast",
            ["KINEMA__SCHEDULER__WORKERS"] = "2",
        });
        var key = (await File.ReadAllTextAsync(new KinemaPaths(_root).CliKey)).Trim();
        using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var before = await client.CreateAsync("""{"model":"kling-v3","prompt":"before the cut","duration":3}""");
        (await client.WaitForTerminalAsync(before, TimeSpan.FromSeconds(60))).GetProperty("status").GetString().Should().Be("completed");

        _proxy.Cut();
        var outputAtCut = server.Output.Length;

        using (var create = await client.PostAsync("/v1/videos/generations",
                   new StringContent("""{"model":"kling-v3","prompt":"during the cut","duration":3}""", Encoding.UTF8, "application/json")))
        {
            var body = JsonDocument.Parse(await create.Content.ReadAsStringAsync()).RootElement;
            create.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, body.ToString());
            create.Headers.RetryAfter.Should().NotBeNull("a client is told when to try again");
            body.GetProperty("error").GetProperty("code").GetInt32().Should().Be(503);
            body.GetProperty("error").GetProperty("message").GetString().Should().Contain("task store");
        }

        using (var read = await client.GetAsync($"/v1/tasks/{before}"))
        {
            read.StatusCode.Should().BeOneOf([HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK],
                "a read is answered from the node's cache or refused as unavailable, never a 500");
        }

        using (var ready = await client.GetAsync("/readyz"))
        {
            ready.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        }

        // Long enough for every loop to retry many times (workers every 200 ms, the dispatcher every 500 ms).
        await Task.Delay(TimeSpan.FromSeconds(4));
        var duringCut = server.Output[outputAtCut..];
        duringCut.Should().NotContain("   at ", "an outage is reported as lines, not stack traces:\n" + duringCut);
        duringCut.Should().NotContain("Unhandled error");
        var outageLines = OutageLine().Matches(duringCut).Select(m => m.Groups[1].Value).ToList();
        outageLines.Should().OnlyHaveUniqueItems("each loop says it once, however often it retries:\n" + duringCut);
        outageLines.Should().Contain(line => line.StartsWith("Worker ", StringComparison.Ordinal));
        outageLines.Should().Contain("The webhook dispatcher");

        _proxy.Restore();
        var after = await CreateWhenBackAsync(client, TimeSpan.FromSeconds(30));
        (await client.WaitForTerminalAsync(after, TimeSpan.FromSeconds(60))).GetProperty("status").GetString().Should().Be("completed");
        (await client.GetTaskAsync(before)).GetProperty("status").GetString().Should().Be("completed", "a task accepted before the cut is never lost");
        using (var ready = await client.GetAsync("/readyz"))
        {
            ready.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!server.Output.Contains("reached the task store again", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        server.Output.Should().Contain("reached the task store again");
    }

    private static async Task<string> CreateWhenBackAsync(HttpClient client, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            using var create = await client.PostAsync("/v1/videos/generations",
                new StringContent("""{"model":"kling-v3","prompt":"after the cut","duration":3}""", Encoding.UTF8, "application/json"));
            var text = await create.Content.ReadAsStringAsync();
            if (create.IsSuccessStatusCode)
            {
                return JsonDocument.Parse(text).RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!;
            }

            create.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, text);
            DateTime.UtcNow.Should().BeBefore(deadline, "the node reconnects by itself once PostgreSQL is reachable");
            await Task.Delay(250);
        }
    }

    [GeneratedRegex(@"(\S.*?) cannot reach the task store")]
    private static partial Regex OutageLine();
}
