using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;
using Kinema.EndToEnd.Upstream;
using Kinema.EndToEnd.Webhooks;

namespace Kinema.EndToEnd.MultiNode;

/// <summary>
/// Three real <c>kinema serve</c> processes on one PostgreSQL, killed with SIGKILL at random moments and restarted
/// while they work through hundreds of tasks: none is lost, each completes once and is announced once, and with an
/// upstream engine no task is ever submitted twice.
/// </summary>
public sealed class ChaosTests : IAsyncLifetime
{
    private const int Nodes = 3;
    private const int MinimumKills = 10;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kinema-chaos", Guid.NewGuid().ToString("N"));
    private readonly ServerProcess?[] _nodes = new ServerProcess?[Nodes];
    private readonly Random _random = new(20261125);
    private string _database = null!;
    private WebhookReceiver _receiver = null!;
    private string _key = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        _receiver = await WebhookReceiver.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
        }

        await _receiver.DisposeAsync();
        await TestPostgres.DropDatabaseAsync(_database);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Dictionary<string, string> Environment(Dictionary<string, string>? extra) => new(extra ?? [])
    {
        ["KINEMA__STORE__PROVIDER"] = "postgres",
        ["ConnectionStrings__Kinema"] = _database,
        ["KINEMA__STORE__MAXATTEMPTS"] = "20",
        ["KINEMA__STORAGE__DISK__PATH"] = Path.Combine(_root, "results"),
        ["KINEMA__ANIMATIC__PRESET"] = "ultrafast",
        // A dead node's work is taken over after its lease: short here, so the test does not wait 30 s per kill.
        ["KINEMA__SCHEDULER__LEASEDURATION"] = "00:00:03",
        ["KINEMA__SCHEDULER__HEARTBEATINTERVAL"] = "00:00:00.500",
        ["KINEMA__WEBHOOKS__RETRYDELAYS__0"] = "00:00:01",
        ["KINEMA__WEBHOOKS__RETRYDELAYS__1"] = "00:00:01",
        ["KINEMA__WEBHOOKS__RETRYDELAYS__2"] = "00:00:02",
        ["KINEMA__WEBHOOKS__RETRYDELAYS__3"] = "00:00:02",
        ["Logging__LogLevel__Default"] = "Warning",
    };

    private async Task StartNodeAsync(int index, Dictionary<string, string>? extra) =>
        _nodes[index] = await ServerProcess.StartAsync(Path.Combine(_root, $"node{index}"), Environment(extra));

    private HttpClient Client(int index)
    {
        var client = new HttpClient { BaseAddress = _nodes[index]!.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _key);
        return client;
    }

    private async Task StartClusterAsync(Dictionary<string, string>? extra = null)
    {
        for (var index = 0; index < Nodes; index++)
        {
            await StartNodeAsync(index, extra);
        }

        // The first node made the first key on the shared database; the others found it there.
        _key = (await File.ReadAllTextAsync(new KinemaPaths(Path.Combine(_root, "node0")).CliKey)).Trim();
        using var client = Client(1);
        using var endpoint = await client.PostAsJsonAsync("/v1/webhooks", new { url = _receiver.Url("chaos"), events = new[] { "task.completed", "task.failed" } });
        endpoint.EnsureSuccessStatusCode();
        _receiver.Secret = JsonDocument.Parse(await endpoint.Content.ReadAsStringAsync()).RootElement.GetProperty("secret").GetString();
    }

    private async Task<List<string>> CreateAsync(int count, string body)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i += 20)
        {
            var batch = await Task.WhenAll(Enumerable.Range(i, Math.Min(20, count - i)).Select(async n =>
            {
                using var client = Client(n % Nodes);
                return await client.CreateAsync(body.Replace("{n}", n.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
            }));
            ids.AddRange(batch);
        }

        return ids;
    }

    /// <summary>
    /// Kills a random node at random moments, more than <see cref="MinimumKills"/> times (mostly while the work is under
    /// way), restarting each at once; then lets the cluster finish. Returns the kills made.
    /// </summary>
    private async Task<int> KillThenFinishAsync(IReadOnlyCollection<string> ids, Dictionary<string, string>? extra, TimeSpan deadline)
    {
        var until = DateTime.UtcNow + deadline;
        var kills = 0;
        while (kills < MinimumKills + 2)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(_random.Next(300, 2000)));
            var victim = _random.Next(Nodes);
            await _nodes[victim]!.KillAsync();
            await _nodes[victim]!.DisposeAsync();
            _nodes[victim] = null;
            kills++;
            await Task.Delay(TimeSpan.FromMilliseconds(_random.Next(100, 600)));
            await StartNodeAsync(victim, extra);
        }

        while (await CountTerminalAsync(ids) is var terminal && terminal < ids.Count)
        {
            DateTime.UtcNow.Should().BeBefore(until, $"{terminal} of {ids.Count} tasks ended after {kills} kills");
            await Task.Delay(500);
        }

        return kills;
    }

    private async Task<int> CountTerminalAsync(IReadOnlyCollection<string> ids)
    {
        using var client = Client(_random.Next(Nodes));
        var wanted = ids.ToHashSet(StringComparer.Ordinal);
        var terminal = 0;
        foreach (var status in new[] { "completed", "failed", "cancelled" })
        {
            string? after = null;
            do
            {
                var page = JsonDocument.Parse(await client.GetStringAsync($"/v1/tasks?status={status}&limit=100" + (after is null ? "" : $"&after={after}"))).RootElement;
                terminal += page.GetProperty("data").EnumerateArray().Count(t => wanted.Contains(t.GetProperty("id").GetString()!));
                after = page.TryGetProperty("next_cursor", out var cursor) && cursor.ValueKind == JsonValueKind.String ? cursor.GetString() : null;
            }
            while (after is not null);
        }

        return terminal;
    }

    private async Task AssertEveryTaskCompletedAndAnnouncedOnceAsync(List<string> ids)
    {
        using (var client = Client(0))
        {
            foreach (var id in ids)
            {
                var task = await client.GetTaskAsync(id);
                task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        Dictionary<string, List<string>> byTask;
        do
        {
            await Task.Delay(250);
            byTask = _receiver.Deliveries
                .Select(d => JsonDocument.Parse(d.Body).RootElement)
                .GroupBy(e => e.GetProperty("data").GetProperty("id").GetString()!)
                .ToDictionary(g => g.Key, g => g.Select(e => e.GetProperty("type").GetString()!).ToList());
        }
        while (ids.Any(id => !byTask.ContainsKey(id)) && DateTime.UtcNow < deadline);

        ids.Should().AllSatisfy(id => byTask.Should().ContainKey(id, "every completed task is announced"));
        _receiver.Deliveries.Should().AllSatisfy(d => d.SignatureValid.Should().BeTrue());
        // A node killed mid-send may make the receiver see one message twice; it keeps its webhook-id, so a consumer
        // deduplicates. What must never happen is a second, different completion event for one task.
        var distinctEvents = _receiver.Deliveries
            .GroupBy(d => JsonDocument.Parse(d.Body).RootElement.GetProperty("data").GetProperty("id").GetString()!)
            .ToDictionary(g => g.Key, g => g.Select(d => d.Id).Distinct().Count());
        distinctEvents.Should().AllSatisfy(pair => pair.Value.Should().Be(1, $"task {pair.Key} completed once, so it has one task.completed event"));
        byTask.Values.SelectMany(types => types).Should().OnlyContain(type => type == "task.completed");
    }

    [Fact]
    public async Task Animatic_tasks_survive_random_kills_of_three_nodes_and_complete_exactly_once()
    {
        await StartClusterAsync();
        var ids = await CreateAsync(240, """{"model":"kling-v3","prompt":"chaos {n}","duration":3}""");

        var kills = await KillThenFinishAsync(ids, null, TimeSpan.FromMinutes(8));

        kills.Should().BeGreaterThanOrEqualTo(MinimumKills);
        await AssertEveryTaskCompletedAndAnnouncedOnceAsync(ids);
    }

    [Fact]
    public async Task Upstream_tasks_survive_random_kills_with_zero_duplicate_submissions()
    {
        const string accessKey = "ak_chaos_42";
        const string secretKey = "sk_chaos_secret";
        await using var kling = await FakeKlingServer.StartAsync(accessKey, secretKey);
        // Hold each answer a little after recording it, so kills land between "sent" and "recorded" too.
        kling.SubmitDelayAfterRecording = TimeSpan.FromMilliseconds(150);
        kling.PollsToFinish = 4;
        var engine = new Dictionary<string, string>
        {
            ["KINEMA__ENGINES__KLING__BASEURL"] = kling.BaseAddress.ToString(),
            ["KINEMA__ENGINES__KLING__ACCESSKEY"] = accessKey,
            ["KINEMA__ENGINES__KLING__SECRETKEY"] = secretKey,
            ["KINEMA__UPSTREAM__FIRSTPOLL"] = "00:00:00.200",
            ["KINEMA__UPSTREAM__MAXPOLLINTERVAL"] = "00:00:00.500",
        };
        await StartClusterAsync(engine);
        var ids = await CreateAsync(200, """{"model":"kling-v3","prompt":"upstream chaos {n}","duration":5}""");

        var kills = await KillThenFinishAsync(ids, engine, TimeSpan.FromMinutes(6));

        kills.Should().BeGreaterThanOrEqualTo(MinimumKills);
        await AssertEveryTaskCompletedAndAnnouncedOnceAsync(ids);
        var submitted = kling.Tasks.Values.Where(t => t.Kind != "element").Select(t => t.ExternalTaskId).ToList();
        submitted.Should().OnlyHaveUniqueItems("no task is ever submitted upstream twice");
        submitted.Should().BeEquivalentTo(ids);
        kling.Submissions.Should().Be(ids.Count);
    }
}
