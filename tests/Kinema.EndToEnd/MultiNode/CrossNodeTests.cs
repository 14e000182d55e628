using System.Diagnostics;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Kinema.Core.Tenants;
using Kinema.EndToEnd.Cli;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd.MultiNode;

/// <summary>
/// Two Kinema nodes on one PostgreSQL database and one S3 bucket, as two instances behind a load balancer: what one
/// node does, the other sees, signs and refuses. Node A renders; node B serves the API only, so everything B shows came
/// from A. Each node has its own data directory: nothing is shared through the local disk.
/// </summary>
public sealed class CrossNodeTests : IAsyncLifetime
{
    private readonly string _sharedData = Path.Combine(Path.GetTempPath(), "kinema-multinode", Guid.NewGuid().ToString("N"));
    private string _database = null!;
    private KinemaTestServer _a = null!;
    private KinemaTestServer _b = null!;
    private S3rverProcess _s3 = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        _s3 = await S3rverProcess.StartAsync();
        _a = await KinemaTestServer.StartAsync(Settings(render: true), Path.Combine(_sharedData, "a"));
        _b = await KinemaTestServer.StartAsync(Settings(render: false), Path.Combine(_sharedData, "b"));
    }

    private Dictionary<string, string?> Settings(bool render) => new(_s3.KinemaSettings())
    {
        ["Kinema:Store:Provider"] = "postgres",
        ["ConnectionStrings:Kinema"] = _database,
        ["Kinema:Scheduler:Enabled"] = render ? "true" : "false",
        ["Kinema:Animatic:Preset"] = "ultrafast",
    };

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _s3.DisposeAsync();
        await TestPostgres.DropDatabaseAsync(_database);
        try
        {
            Directory.Delete(_sharedData, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Sse_on_node_b_streams_a_task_that_node_a_renders()
    {
        using var onB = _b.ClientFor(_a.AliceKey);
        var id = await onB.CreateAsync("""{"model":"kling-v3","prompt":"watched from the other node","duration":5}""");

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{id}/events");
        using var response = await onB.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var states = new List<JsonElement>();
        await foreach (var item in SseParser.Create(stream).EnumerateAsync())
        {
            if (item.EventType == "task")
            {
                states.Add(JsonDocument.Parse(item.Data).RootElement.Clone());
            }
        }

        states.Select(s => s.GetProperty("status").GetString()).Should().Contain("processing");
        states.Select(s => s.GetProperty("progress").GetInt32()).Where(p => p is > 0 and < 100).Should().NotBeEmpty(
            "progress written by node A reaches node B's watchers as it happens");
        states[^1].GetProperty("status").GetString().Should().Be("completed");
    }

    [Fact]
    public async Task Result_url_signed_by_node_a_is_served_by_node_b()
    {
        var id = await _a.Alice.CreateAsync("""{"model":"kling-v3","prompt":"signed here, served there","duration":3}""");
        var done = await _a.Alice.WaitForTerminalAsync(id);
        var url = new Uri(done.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!);

        using var anonymous = new HttpClient();
        using var fromB = await anonymous.GetAsync(new Uri(_b.BaseAddress, url.PathAndQuery));
        fromB.StatusCode.Should().Be(HttpStatusCode.OK);
        var path = Path.Combine(_sharedData, "download.mp4");
        await File.WriteAllBytesAsync(path, await fromB.Content.ReadAsByteArrayAsync());
        var probe = await Ffprobe.ProbeAsync(path);
        probe.Width.Should().Be(1280);
        probe.Duration.Should().BeApproximately(3, 0.1);

        using var tampered = await anonymous.GetAsync(new Uri(_b.BaseAddress, url.PathAndQuery.Replace("signature=", "signature=x", StringComparison.Ordinal)));
        tampered.StatusCode.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Key_revoked_with_the_cli_on_postgres_is_refused_by_both_nodes_within_seconds()
    {
        var environment = new Dictionary<string, string>
        {
            ["KINEMA__STORE__PROVIDER"] = "postgres",
            ["ConnectionStrings__Kinema"] = _database,
        };
        var created = await CliRunner.RunAsync(["keys", "create", "--name", "temp", "--tenant", "carol", "--data", Path.Combine(_sharedData, "cli")], environment);
        created.ExitCode.Should().Be(0, created.Stderr);
        var key = created.Stdout.Trim().Split('\n')[^1].Trim();
        using var onA = _a.ClientFor(key);
        using var onB = _b.ClientFor(key);
        (await onA.GetAsync("/v1/tasks")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await onB.GetAsync("/v1/tasks")).StatusCode.Should().Be(HttpStatusCode.OK);

        var revoked = await CliRunner.RunAsync(["keys", "revoke", key[..12], "--data", Path.Combine(_sharedData, "cli")], environment);
        revoked.ExitCode.Should().Be(0, revoked.Stderr);
        var clock = Stopwatch.StartNew();
        while ((await onA.GetAsync("/v1/tasks")).StatusCode != HttpStatusCode.Unauthorized
               || (await onB.GetAsync("/v1/tasks")).StatusCode != HttpStatusCode.Unauthorized)
        {
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "a revoked key is refused everywhere within seconds");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_keys_requests_per_minute_hold_across_both_nodes_not_once_per_node()
    {
        var key = (await _a.Services.GetRequiredService<IApiKeyStore>()
            .CreateAsync(new NewApiKey("six", "six", RequestsPerMinute: 6), CancellationToken.None)).Key;
        using var onA = _a.ClientFor(key);
        using var onB = _b.ClientFor(key);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++)
        {
            using var response = await (i % 2 == 0 ? onA : onB).GetAsync("/v1/tasks");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                response.Headers.RetryAfter!.Delta.Should().BePositive();
                (await response.Content.ReadAsStringAsync()).Should().Contain("6 requests per minute");
            }
        }

        statuses.Take(6).Should().OnlyContain(status => status == HttpStatusCode.OK);
        statuses.Skip(6).Should().OnlyContain(status => status == HttpStatusCode.TooManyRequests,
            "the six were spent over both nodes, three on each");
    }

    [Fact]
    public async Task A_burst_spread_over_both_nodes_gets_the_keys_limit_once()
    {
        const int limit = 1200; // taken by each node in blocks of 10
        var key = (await _a.Services.GetRequiredService<IApiKeyStore>()
            .CreateAsync(new NewApiKey("burst", "burst", RequestsPerMinute: limit), CancellationToken.None)).Key;
        using var onA = _a.ClientFor(key);
        using var onB = _b.ClientFor(key);
        var next = -1;

        var counts = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            var (ok, refused) = (0, 0);
            int i;
            while ((i = Interlocked.Increment(ref next)) < 1500)
            {
                using var response = await (i % 2 == 0 ? onA : onB).GetAsync("/v1/tasks?limit=1");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    ok++;
                }
                else
                {
                    response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
                    refused++;
                }
            }

            return (ok, refused);
        })));

        var accepted = counts.Sum(c => c.ok);
        counts.Sum(c => c.refused).Should().Be(1500 - accepted);
        // Never more than the limit. Fewer only by the permits a node took and had not spent: at most a block and a
        // quarter a node at the end of the burst, and as much again if a ten-second segment ended during it.
        accepted.Should().BeInRange(limit - 2 * 2 * 12, limit);
    }

    [Fact]
    public async Task Same_idempotency_key_and_body_on_both_nodes_make_one_task()
    {
        const string body = """{"model":"kling-v3","prompt":"only once, whichever node","duration":3}""";
        using var onA = _a.ClientFor(_a.AliceKey);
        using var onB = _b.ClientFor(_a.AliceKey);

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("Idempotency-Key", "cross-node-1");
            using var response = await (i % 2 == 0 ? onA : onB).SendAsync(request);
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return document.RootElement.GetProperty("data")[0].GetProperty("task_id").GetString();
        }));

        answers.Distinct().Should().ContainSingle();
    }

    [Fact]
    public async Task A_task_given_back_by_a_node_that_stops_is_taken_at_once_by_a_node_that_polls_rarely()
    {
        using var onB = _b.ClientFor(_a.AliceKey);
        var id = await onB.CreateAsync("""{"model":"kling-v3","prompt":"given back in a rolling restart","duration":15,"mode":"pro"}""");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await onB.GetTaskAsync(id)).GetProperty("status").GetString() != "processing")
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "node A should take the task");
            await Task.Delay(50);
        }

        // Node C renders too, but looks at the queue only once a minute by itself: only a notice can wake it sooner.
        var c = await KinemaTestServer.StartAsync(new Dictionary<string, string?>(Settings(render: true))
        {
            ["Kinema:Scheduler:PollInterval"] = "00:01:00",
        }, Path.Combine(_sharedData, "c"));
        var a = _a;
        _a = c;
        var clock = Stopwatch.StartNew();
        // A graceful stop, as in a rolling restart: node A gives its task back.
        await a.DisposeAsync();
        var stoppedAt = clock.Elapsed;
        var takenOnC = Path.Combine(c.Paths.Work, id);
        while (!Directory.Exists(takenOnC) && clock.Elapsed - stoppedAt < TimeSpan.FromSeconds(50))
        {
            await Task.Delay(50);
        }

        var takenAfter = clock.Elapsed - stoppedAt;
        var task = await onB.WaitForTerminalAsync(id, TimeSpan.FromMinutes(3));

        takenAfter.Should().BeLessThan(TimeSpan.FromSeconds(10), "the release is announced to every node");
        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("animatic");
    }

    [Fact]
    public async Task Node_b_shows_a_change_made_on_node_a_within_a_second()
    {
        using var onB = _b.ClientFor(_a.AliceKey);
        // A long render, so it is still pending or rendering on A when A cancels it.
        var id = await onB.CreateAsync("""{"model":"kling-v3","prompt":"cancelled on the other node","duration":15,"mode":"pro"}""");
        (await onB.GetTaskAsync(id)).GetProperty("status").GetString().Should().NotBe("cancelled");

        var clock = Stopwatch.StartNew();
        using var cancel = await _a.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        var cancelledAt = clock.Elapsed;
        cancel.IsSuccessStatusCode.Should().BeTrue(await cancel.Content.ReadAsStringAsync());
        while ((await onB.GetTaskAsync(id)).GetProperty("status").GetString() != "cancelled")
        {
            await Task.Delay(20);
        }

        // The status cache lives one second and NOTIFY drops it sooner; the slack covers a loaded two-core test machine.
        (clock.Elapsed - cancelledAt).Should().BeLessThan(TimeSpan.FromSeconds(1.2));
    }
}
