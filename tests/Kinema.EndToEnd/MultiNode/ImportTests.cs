using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Kinema.Core.Billing;
using Kinema.EndToEnd.Cli;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace Kinema.EndToEnd.MultiNode;

/// <summary>
/// <c>kinema import</c>: a single node on SQLite and its disk moves into one PostgreSQL database and one S3 bucket, and
/// two nodes started on them serve its clients as if nothing had happened: the same keys, tasks, balances, ledger,
/// webhooks, idempotency keys and signed links, and the task it had not yet rendered is rendered by the new nodes.
/// </summary>
public sealed class ImportTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kinema-import", Guid.NewGuid().ToString("N"));
    private string _database = null!;
    private S3rverProcess _s3 = null!;

    private string Single => Path.Combine(_root, "single");

    public async ValueTask InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        _s3 = await S3rverProcess.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _s3.DisposeAsync();
        await TestPostgres.DropDatabaseAsync(_database);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The environment the nodes run with, which is where the import writes.</summary>
    private Dictionary<string, string> SharedEnvironment() => new(_s3.KinemaSettings()
        .Select(setting => KeyValuePair.Create(setting.Key.Replace(":", "__", StringComparison.Ordinal), setting.Value!)))
    {
        ["KINEMA__STORE__PROVIDER"] = "postgres",
        ["ConnectionStrings__Kinema"] = _database,
    };

    private static Dictionary<string, string?> Billing(bool render) => new()
    {
        ["Kinema:Billing:Enabled"] = "true",
        ["Kinema:Scheduler:Enabled"] = render ? "true" : "false",
        ["Kinema:Animatic:Preset"] = "ultrafast",
    };

    [Fact]
    public async Task Two_nodes_on_postgres_and_s3_serve_everything_a_single_node_held()
    {
        // The single node: tasks rendered and charged, a webhook endpoint with deliveries due, an uploaded image.
        string aliceKey, bobKey, keyedTask, videoLink, posterLink, uploadLink, pendingTask;
        JsonElement aliceList, aliceBalance, aliceUsage, aliceDeliveries;
        var keyedBody = """{"model":"kling-v3","prompt":"made on one node","duration":3}""";
        await using (var single = await KinemaTestServer.StartAsync(Billing(render: true), Single))
        {
            aliceKey = single.AliceKey;
            bobKey = single.BobKey;
            var billing = single.Services.GetRequiredService<IBillingStore>();
            await billing.AddCreditsAsync("alice", 100, null, "grant", CancellationToken.None);
            await billing.AddCreditsAsync("bob", 10, null, "grant", CancellationToken.None);
            var hook = await single.Alice.PostAsync("/v1/webhooks", Json($$"""{"url":"http://127.0.0.1:{{LoopbackPorts.Free()}}/hook"}"""));
            hook.StatusCode.Should().Be(HttpStatusCode.OK, await hook.Content.ReadAsStringAsync());

            using (var keyed = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations") { Content = Json(keyedBody) })
            {
                keyed.Headers.Add("Idempotency-Key", "moved-key");
                using var answer = await single.Alice.SendAsync(keyed);
                keyedTask = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!;
            }

            var second = await single.Alice.CreateAsync("""{"model":"kling-v3","prompt":"second","duration":3,"audio":true}""");
            var bobs = await single.Bob.CreateAsync("""{"model":"kling-v3","prompt":"bob's","duration":3}""");
            var done = await single.Alice.WaitForTerminalAsync(keyedTask);
            done.GetProperty("status").GetString().Should().Be("completed");
            (await single.Alice.WaitForTerminalAsync(second)).GetProperty("status").GetString().Should().Be("completed");
            (await single.Bob.WaitForTerminalAsync(bobs)).GetProperty("status").GetString().Should().Be("completed");
            var video = done.GetProperty("result").GetProperty("videos")[0];
            videoLink = new Uri(video.GetProperty("url")[0].GetString()!).PathAndQuery;
            posterLink = new Uri(video.GetProperty("thumbnail_url").GetString()!).PathAndQuery;

            // The dispatcher turns each ended task into its deliveries shortly after the end: wait until they are rows.
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while ((await GetJsonAsync(single.Alice, "/v1/webhooks/deliveries")).GetProperty("data").GetArrayLength() == 0)
            {
                waited.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30), "the ended tasks' deliveries are queued");
                await Task.Delay(100);
            }

            using var upload = new MultipartFormDataContent();
            var image = new ByteArrayContent(TestImages.Solid(640, 360, SKColors.Teal));
            image.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            upload.Add(image, "file", "frame.png");
            using var uploaded = await single.Alice.PostAsync("/v1/uploads/images", upload);
            uploadLink = new Uri(JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()).RootElement.GetProperty("url").GetString()!).PathAndQuery;
        }

        // Started again without workers, so one task is still pending when the node stops for good.
        await using (var single = await KinemaTestServer.StartAsync(Billing(render: false), Single))
        {
            using var alice = single.ClientFor(aliceKey);
            pendingTask = await alice.CreateAsync("""{"model":"kling-v3","prompt":"accepted, not yet made","duration":4}""");
            aliceList = await GetJsonAsync(alice, "/v1/tasks?limit=50");
            aliceBalance = await GetJsonAsync(alice, "/v1/balance");
            aliceUsage = await GetJsonAsync(alice, "/v1/usage?limit=50");
            aliceDeliveries = await GetJsonAsync(alice, "/v1/webhooks/deliveries");
        }

        var sourceVideo = Path.Combine(Single, "results", keyedTask, "video.mp4");
        var imported = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
        imported.ExitCode.Should().Be(0, imported.Stderr);
        imported.Stdout.Should().Contain("4 tasks").And.Contain("the S3 bucket").And.Contain("signs result links");

        await using var nodeA = await KinemaTestServer.StartAsync(Shared(render: true), Path.Combine(_root, "a"));
        await using var nodeB = await KinemaTestServer.StartAsync(Shared(render: false), Path.Combine(_root, "b"));
        using var aliceOnB = nodeB.ClientFor(aliceKey);
        using var bobOnB = nodeB.ClientFor(bobKey);

        // The task the single node accepted and never made is made by the new nodes.
        var rendered = await aliceOnB.WaitForTerminalAsync(pendingTask);
        rendered.GetProperty("status").GetString().Should().Be("completed");
        var renderedPath = await aliceOnB.DownloadVideoAsync(rendered, _root);
        var renderedProbe = await Ffprobe.ProbeAsync(renderedPath);
        renderedProbe.VideoCodec.Should().Be("h264");
        renderedProbe.Width.Should().Be(1280);
        renderedProbe.Duration.Should().BeApproximately(4, 0.1);

        // The same tasks, in the same order, for the same key; the other tenant still sees none of them.
        var listOnB = await GetJsonAsync(aliceOnB, "/v1/tasks?limit=50");
        Ids(listOnB.GetProperty("data")).Should().Equal(Ids(aliceList.GetProperty("data")));
        (await bobOnB.GetAsync($"/v1/tasks/{keyedTask}")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await GetJsonAsync(bobOnB, "/v1/tasks?limit=50")).GetProperty("data").GetArrayLength().Should().Be(1);

        // Links the single node signed are served by node B from the bucket, byte for byte.
        using var anonymous = new HttpClient { BaseAddress = nodeB.BaseAddress };
        using (var served = await anonymous.GetAsync(videoLink))
        {
            served.StatusCode.Should().Be(HttpStatusCode.OK);
            var bytes = await served.Content.ReadAsByteArrayAsync();
            bytes.Should().Equal(await File.ReadAllBytesAsync(sourceVideo));
            var copy = Path.Combine(_root, "served.mp4");
            await File.WriteAllBytesAsync(copy, bytes);
            var probe = await Ffprobe.ProbeAsync(copy);
            probe.VideoCodec.Should().Be("h264");
            (probe.Width, probe.Height).Should().Be((1280, 720));
            probe.Duration.Should().BeApproximately(3, 0.1);
            probe.FrameRate.Should().BeApproximately(24, 0.01);
        }

        (await anonymous.GetAsync(posterLink)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await anonymous.GetAsync(uploadLink)).StatusCode.Should().Be(HttpStatusCode.OK);

        // The idempotency key still names its task, and a replay charges nothing.
        using (var replay = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations") { Content = Json(keyedBody) })
        {
            replay.Headers.Add("Idempotency-Key", "moved-key");
            using var answer = await aliceOnB.SendAsync(replay);
            answer.Headers.GetValues("Idempotency-Replayed").Should().Equal("true");
            JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()
                .Should().Be(keyedTask);
        }

        // The balance and the ledger are the single node's, and new charges continue the ledger after them.
        (await GetJsonAsync(aliceOnB, "/v1/balance")).GetProperty("balance").GetInt64().Should().Be(aliceBalance.GetProperty("balance").GetInt64());
        Ids((await GetJsonAsync(aliceOnB, "/v1/usage?limit=50")).GetProperty("data")).Should().Equal(Ids(aliceUsage.GetProperty("data")));
        var fresh = await aliceOnB.CreateAsync("""{"model":"kling-v3","prompt":"the first on two nodes","duration":3}""");
        var usageAfter = (await GetJsonAsync(aliceOnB, "/v1/usage?limit=1")).GetProperty("data")[0];
        usageAfter.GetProperty("task_id").GetString().Should().Be(fresh);
        LedgerNumber(usageAfter.GetProperty("id").GetString()!).Should().BeGreaterThan(
            Ids(aliceUsage.GetProperty("data")).Max(LedgerNumber));
        (await GetJsonAsync(aliceOnB, "/v1/balance")).GetProperty("balance").GetInt64().Should().Be(aliceBalance.GetProperty("balance").GetInt64() - 3);

        // The webhook endpoint and its deliveries still due moved with the tasks.
        (await GetJsonAsync(aliceOnB, "/v1/webhooks")).GetProperty("data").GetArrayLength().Should().Be(1);
        var deliveries = Ids((await GetJsonAsync(aliceOnB, "/v1/webhooks/deliveries")).GetProperty("data"));
        deliveries.Should().Contain(Ids(aliceDeliveries.GetProperty("data"))).And.NotBeEmpty();

        // A second import would merge two stores: refused, naming what is there.
        var again = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
        again.ExitCode.Should().Be(2);
        again.Stderr.Should().Contain("already holds").And.Contain("tasks").And.Contain("nothing was imported");

        // The old directory is not served on SQLite again: tasks accepted there would never reach the new nodes.
        var oldNode = await CliRunner.RunAsync(["serve", "--data", Single, "--urls", $"http://127.0.0.1:{LoopbackPorts.Free()}"]);
        oldNode.ExitCode.Should().Be(2);
        oldNode.Stderr.Should().Contain("was imported into PostgreSQL").And.Contain("imported-to-postgres");
        var oldKeys = await CliRunner.RunAsync(["keys", "create", "--name", "late", "--data", Single]);
        oldKeys.ExitCode.Should().Be(2);
        oldKeys.Stderr.Should().Contain("was imported into PostgreSQL").And.Contain("Kinema:Store:Provider=postgres");
    }

    [Fact]
    public async Task Import_is_refused_while_a_server_holds_the_directory_and_without_a_postgres_destination()
    {
        await using (var single = await KinemaTestServer.StartAsync(Billing(render: false), Single))
        {
            await single.Alice.GetAsync("/v1/tasks");
        }

        var withoutPostgres = await CliRunner.RunAsync(["import", "--from", Single]);
        withoutPostgres.ExitCode.Should().Be(2);
        withoutPostgres.Stderr.Should().Contain("Kinema:Store:Provider=postgres");

        var missing = await CliRunner.RunAsync(["import", "--from", Path.Combine(_root, "nothing-here")], SharedEnvironment());
        missing.ExitCode.Should().Be(2);
        missing.Stderr.Should().Contain("there is no Kinema store");

        // The lock serve holds while it runs (an flock, as DataDirectoryLock takes it).
        await using (new FileStream(Path.Combine(Single, "kinema.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var whileServing = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
            whileServing.ExitCode.Should().Be(2);
            whileServing.Stderr.Should().Contain("a server is running").And.Contain("stop it first");

            // A dry run may look while the server runs: it reads, and writes nothing anywhere.
            var dryRun = await CliRunner.RunAsync(["import", "--from", Single, "--dry-run"], SharedEnvironment());
            dryRun.ExitCode.Should().Be(0, dryRun.Stderr);
            dryRun.Stdout.Should().Contain("Would import").And.Contain("2 API keys, 0 tasks").And.Contain("The database is empty")
                .And.Contain("once the server running on");
        }

        // Nothing was written by the refused imports, so the import still runs once the server has stopped.
        File.Exists(Path.Combine(Single, "imported-to-postgres")).Should().BeFalse();
        var imported = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
        imported.ExitCode.Should().Be(0, imported.Stderr);
        imported.Stdout.Should().Contain("2 API keys").And.Contain("0 tasks");
    }

    [Fact]
    public async Task An_import_that_cannot_reach_the_bucket_writes_no_rows_and_a_second_run_copies_only_what_is_missing()
    {
        string id;
        await using (var single = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Animatic:Preset"] = "ultrafast" }, Single))
        {
            id = await single.Alice.CreateAsync("""{"model":"kling-v3","prompt":"kept through an outage","duration":3}""");
            (await single.Alice.WaitForTerminalAsync(id)).GetProperty("status").GetString().Should().Be("completed");
        }

        await _s3.StopAsync();
        var refused = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
        refused.ExitCode.Should().Be(3, refused.Stdout + refused.Stderr);
        refused.Stderr.Should().Contain("nothing was written to the database");
        File.Exists(Path.Combine(Single, "imported-to-postgres")).Should().BeFalse();

        _s3 = await _s3.RestartAsync();
        var imported = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
        imported.ExitCode.Should().Be(0, imported.Stderr);
        imported.Stdout.Should().Contain("2 API keys, 1 task").And.Contain("result files: 2 copied").And.Contain("0 already there");

        // Into another empty database with the same bucket (a retry after a failed row copy): the files are there already.
        var second = await TestPostgres.CreateDatabaseAsync();
        try
        {
            var environment = SharedEnvironment();
            environment["ConnectionStrings__Kinema"] = second;
            var again = await CliRunner.RunAsync(["import", "--from", Single], environment);
            again.ExitCode.Should().Be(0, again.Stderr);
            again.Stdout.Should().Contain("result files: 0 copied").And.Contain("2 already there");
        }
        finally
        {
            await TestPostgres.DropDatabaseAsync(second);
        }
    }

    [Fact]
    public async Task Upstream_tasks_in_flight_at_the_import_finish_on_the_new_nodes_without_a_second_submission()
    {
        const string accessKey = "ak_import_1a2b3c";
        const string secretKey = "sk_import_secret";
        await using var kling = await Upstream.FakeKlingServer.StartAsync(accessKey, secretKey);
        var upstream = new Dictionary<string, string>
        {
            ["KINEMA__ENGINES__KLING__BASEURL"] = kling.BaseAddress.ToString(),
            ["KINEMA__ENGINES__KLING__ACCESSKEY"] = accessKey,
            ["KINEMA__ENGINES__KLING__SECRETKEY"] = secretKey,
            ["KINEMA__UPSTREAM__FIRSTPOLL"] = "00:00:00.200",
            ["KINEMA__UPSTREAM__MAXPOLLINTERVAL"] = "00:00:00.500",
            ["KINEMA__SCHEDULER__LEASEDURATION"] = "00:00:03",
            ["KINEMA__SCHEDULER__HEARTBEATINTERVAL"] = "00:00:01",
        };

        // One task accepted upstream and being polled; a second sent, but the node dies before it hears the upstream's id.
        kling.NeverFinish = true;
        string key, polled, unanswered;
        await using (var single = await ServerProcess.StartAsync(Single, upstream))
        {
            key = (await File.ReadAllTextAsync(new Core.KinemaPaths(Single).CliKey)).Trim();
            using var client = single.ClientFor(key);
            polled = await client.CreateAsync("""{"model":"kling-v3","prompt":"polled before the move","duration":5}""");
            await WaitUntilAsync(() => kling.Polls > 0, "the first task is accepted and polled upstream");
            kling.SubmitDelayAfterRecording = TimeSpan.FromSeconds(30);
            unanswered = await client.CreateAsync("""{"model":"kling-v3","prompt":"sent, never answered","duration":5}""");
            await WaitUntilAsync(() => kling.Submissions == 2, "the second task is sent upstream");
            await single.KillAsync();
        }

        var imported = await CliRunner.RunAsync(["import", "--from", Single], SharedEnvironment());
        imported.ExitCode.Should().Be(0, imported.Stderr);
        imported.Stdout.Should().Contain("2 tasks");

        kling.SubmitDelayAfterRecording = TimeSpan.Zero;
        kling.NeverFinish = false;
        await using var node = await ServerProcess.StartAsync(Path.Combine(_root, "a"), new Dictionary<string, string>(upstream.Concat(SharedEnvironment())));
        using var onNode = node.ClientFor(key);
        foreach (var id in new[] { polled, unanswered })
        {
            var task = await onNode.WaitForTerminalAsync(id, TimeSpan.FromSeconds(90));
            task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            task.GetProperty("engine").GetString().Should().Be("kling");
            var path = await onNode.DownloadVideoAsync(task, _root);
            (await Ffprobe.ProbeAsync(path)).VideoCodec.Should().Be("h264");
        }

        kling.Submissions.Should().Be(2, "the new node found the unanswered send by its external_task_id instead of sending it again");
        kling.Tasks.Values.Select(t => t.ExternalTaskId).Should().BeEquivalentTo([polled, unanswered]);
        node.Output.Should().Contain("not submitting again");
    }


    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30), what);
            await Task.Delay(20);
        }
    }

    private Dictionary<string, string?> Shared(bool render) => new(_s3.KinemaSettings())
    {
        ["Kinema:Store:Provider"] = "postgres",
        ["ConnectionStrings:Kinema"] = _database,
        ["Kinema:Billing:Enabled"] = "true",
        ["Kinema:Scheduler:Enabled"] = render ? "true" : "false",
        ["Kinema:Animatic:Preset"] = "ultrafast",
    };

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.OK, $"{path}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static List<string> Ids(JsonElement items) => items.EnumerateArray().Select(item => item.GetProperty("id").GetString()!).ToList();

    private static long LedgerNumber(string id) => long.Parse(id["led_".Length..], System.Globalization.CultureInfo.InvariantCulture);
}
