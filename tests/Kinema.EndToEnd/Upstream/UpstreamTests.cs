using System.Net;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd.Upstream;

/// <summary>The kling and apimart engines against faithful fakes of their upstreams, through Kinema's real HTTP API.</summary>
public sealed class UpstreamTests : IAsyncLifetime
{
    private const string AccessKey = "ak_test_4f7b2c";
    private const string SecretKey = "sk_test_9d1e6a_secret";
    private const string RelayKey = "relay-key-123456";
    private FakeKlingServer _kling = null!;
    private FakeContractServer _relay = null!;
    private readonly string _downloads = Path.Combine(Path.GetTempPath(), "kinema-upstream-dl", Guid.NewGuid().ToString("N"));

    public async ValueTask InitializeAsync()
    {
        _kling = await FakeKlingServer.StartAsync(AccessKey, SecretKey);
        _relay = await FakeContractServer.StartAsync(RelayKey);
    }

    public async ValueTask DisposeAsync()
    {
        await _kling.DisposeAsync();
        await _relay.DisposeAsync();
        if (Directory.Exists(_downloads))
        {
            Directory.Delete(_downloads, recursive: true);
        }
    }

    private Dictionary<string, string?> Settings(bool kling = true, bool relay = true, string? secret = null) =>
        AllSettings(kling, relay, secret).Where(pair => pair.Value is not null).ToDictionary();

    private Dictionary<string, string?> AllSettings(bool kling, bool relay, string? secret) => new()
    {
        ["Kinema:Engines:Kling:BaseUrl"] = kling ? _kling.BaseAddress.ToString() : null,
        ["Kinema:Engines:Kling:AccessKey"] = kling ? AccessKey : null,
        ["Kinema:Engines:Kling:SecretKey"] = kling ? secret ?? SecretKey : null,
        ["Kinema:Engines:Apimart:BaseUrl"] = relay ? _relay.BaseAddress.ToString() : null,
        ["Kinema:Engines:Apimart:ApiKey"] = relay ? RelayKey : null,
        ["Kinema:Upstream:FirstPoll"] = "00:00:00.200",
        ["Kinema:Upstream:MaxPollInterval"] = "00:00:00.500",
    };

    private static async Task<string> ArchivedVideoAsync(JsonElement task, string directory)
    {
        using var client = new HttpClient();
        var path = Path.Combine(directory, task.GetProperty("id").GetString() + ".mp4");
        Directory.CreateDirectory(directory);
        await File.WriteAllBytesAsync(path, await client.GetByteArrayAsync(task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()));
        return path;
    }

    [Fact]
    public async Task Kling_text_to_video_is_submitted_with_a_valid_jwt_mapped_fields_and_archived()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a fox in snow","mode":"pro","duration":10,"aspect_ratio":"9:16","negative_prompt":"blurry","audio":true,"watermark":true}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("kling");
        _kling.RejectedTokens.Should().Be(0);
        _kling.SubmittedBodies.Should().ContainSingle();
        var body = _kling.SubmittedBodies.Single();
        body["model_name"]!.GetValue<string>().Should().Be("kling-v3");
        body["duration"]!.GetValue<string>().Should().Be("10", "the official API takes duration as a string");
        body["mode"]!.GetValue<string>().Should().Be("pro");
        body["aspect_ratio"]!.GetValue<string>().Should().Be("9:16");
        body["negative_prompt"]!.GetValue<string>().Should().Be("blurry");
        body["sound"]!.GetValue<string>().Should().Be("on");
        body["watermark_info"]!["enabled"]!.GetValue<bool>().Should().BeTrue();
        body["external_task_id"]!.GetValue<string>().Should().Be(id);
        var report = await Ffprobe.ProbeAsync(await ArchivedVideoAsync(task, _downloads));
        (report.Width, report.Height).Should().Be((640, 360));
        _relay.Submissions.Should().Be(0);
    }

    [Fact]
    public async Task The_archived_copy_outlives_the_upstream_link()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());
        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"archive me","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        _kling.ResultsDeleted = true;
        using var upstream = new HttpClient();
        var gone = await upstream.GetAsync(new Uri(_kling.BaseAddress, $"/results/{_kling.Tasks.Keys.Single()}.mp4"));

        gone.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await Ffprobe.ProbeAsync(await ArchivedVideoAsync(task, _downloads))).VideoCodec.Should().Be("h264");
    }

    [Fact]
    public async Task Image_to_video_sends_image_and_image_tail_as_raw_base64_without_aspect_ratio()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());
        var png = TestImages.DataUri(TestImages.Solid(400, 300, SkiaSharp.SKColors.Red));

        var id = await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"go","image_urls":["{{png}}","https://example.com/last.jpg"]}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        var body = _kling.SubmittedBodies.Single();
        body["image"]!.GetValue<string>().Should().Be(png[(png.IndexOf(',', StringComparison.Ordinal) + 1)..]);
        body["image_tail"]!.GetValue<string>().Should().Be("https://example.com/last.jpg");
        body.ContainsKey("aspect_ratio").Should().BeFalse();
        _kling.Tasks.Values.Single().Kind.Should().Be("image2video");
    }

    [Fact]
    public async Task Multi_shot_is_sent_with_string_durations()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());

        var id = await server.Alice.CreateAsync("""
            {"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":15,"aspect_ratio":"9:16","audio":true,
             "multi_prompt":[{"index":1,"prompt":"a","duration":5},{"index":2,"prompt":"b","duration":5},{"index":3,"prompt":"c","duration":5}]}
            """);
        await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        var body = _kling.SubmittedBodies.Single();
        body["multi_shot"]!.GetValue<bool>().Should().BeTrue();
        body["shot_type"]!.GetValue<string>().Should().Be("customize");
        body["multi_prompt"]!.AsArray().Select(s => s!["duration"]!.GetValue<string>()).Should().Equal("5", "5", "5");
    }

    [Fact]
    public async Task Elements_without_a_first_frame_are_refused_at_submit_by_the_kling_engine()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());

        var error = await server.Alice.PostErrorAsync("""{"model":"kling-v3","prompt":"@dog","elements":[{"name":"dog","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""", 400);
        var longName = await server.Alice.PostErrorAsync("""{"model":"kling-v3","prompt":"@a_very_long_element_name","image_urls":["https://e.com/0.jpg"],"elements":[{"name":"a_very_long_element_name","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""", 400);

        error.GetProperty("param").GetString().Should().Be("elements");
        error.GetProperty("message").GetString().Should().Contain("kling engine").And.Contain("first frame");
        longName.GetProperty("param").GetString().Should().Be("elements[0].name");
        _kling.Submissions.Should().Be(0);
    }

    [Fact]
    public async Task Elements_are_created_in_klings_library_once_and_named_in_element_list()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());
        var catPng = TestImages.DataUri(TestImages.Solid(16, 16, SkiaSharp.SKColors.Gray));
        var catBase64 = catPng[(catPng.IndexOf(',', StringComparison.Ordinal) + 1)..];
        var body = $$"""
            {"model":"kling-v3","prompt":"@dog chases @cat","image_urls":["https://e.com/first.jpg"],
             "elements":[{"name":"dog","description":"a golden dog","element_input_urls":["https://e.com/dog1.jpg","https://e.com/dog2.jpg","https://e.com/dog3.jpg"]},
                         {"name":"cat","description":"a grey cat","element_input_urls":["{{catPng}}","https://e.com/cat2.jpg"]}]}
            """;

        var first = await server.Alice.CreateAsync(body);
        var firstTask = await server.Alice.WaitForTerminalAsync(first, TimeSpan.FromSeconds(60));
        var second = await server.Alice.CreateAsync(body);
        await server.Alice.WaitForTerminalAsync(second, TimeSpan.FromSeconds(60));

        firstTask.GetProperty("status").GetString().Should().Be("completed", firstTask.ToString());
        _kling.ElementBodies.Should().HaveCount(2, "the same subjects in a second task reuse the elements made for the first");
        var dog = _kling.ElementBodies.First(b => b["element_name"]!.GetValue<string>() == "dog");
        dog["element_description"]!.GetValue<string>().Should().Be("a golden dog");
        dog["element_image_list"]!["frontal_image"]!.GetValue<string>().Should().Be("https://e.com/dog1.jpg");
        dog["element_image_list"]!["refer_images"]!.AsArray().Select(r => r!["image_url"]!.GetValue<string>()).Should().Equal("https://e.com/dog2.jpg", "https://e.com/dog3.jpg");
        var cat = _kling.ElementBodies.First(b => b["element_name"]!.GetValue<string>() == "cat");
        cat["element_image_list"]!["frontal_image"]!.GetValue<string>().Should().Be(catBase64, "data URIs go as raw base64");
        var ids = _kling.SubmittedBodies.Select(b => b["element_list"]!.AsArray().Select(e => e!["element_id"]!.GetValue<long>()).ToList()).ToList();
        ids.Should().HaveCount(2);
        ids[0].Should().Equal(ids[1]).And.BeEquivalentTo(_kling.Elements.Values);
    }

    [Theory]
    [InlineData(429, 1303, "rate_limited")]
    [InlineData(429, 1102, "insufficient_balance")]
    [InlineData(500, 5000, "upstream_error")]
    [InlineData(502, -1, "upstream_error")]
    public async Task A_refusal_at_submit_fails_over_to_the_next_engine(int status, int code, string reason)
    {
        var settings = Settings();
        settings["Kinema:Upstream:SubmitAttempts"] = "1";
        await using var server = await KinemaTestServer.StartAsync(settings);
        _kling.SubmitFaults.Enqueue((status, code, "injected"));
        _kling.SubmitFaults.Enqueue((status, code, "injected"));

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"fail over","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("apimart");
        task.GetProperty("failover").GetString().Should().Contain("kling").And.Contain(reason);
        _relay.Submissions.Should().Be(1);
        _relay.Tasks.Values.Single().IdempotencyKey.Should().Be(id);
    }

    [Fact]
    public async Task The_configured_engine_order_is_followed()
    {
        var settings = Settings();
        settings["Kinema:Models:kling-v3:Engines:0"] = "apimart";
        settings["Kinema:Models:kling-v3:Engines:1"] = "kling";
        await using var server = await KinemaTestServer.StartAsync(settings);

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"relay first","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("engine").GetString().Should().Be("apimart");
        _kling.Submissions.Should().Be(0);
    }

    [Fact]
    public async Task An_invalid_request_fails_without_failover()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"something forbidden","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("failed");
        task.GetProperty("error").GetProperty("code").GetString().Should().Be("content_policy");
        task.GetProperty("error").GetProperty("message").GetString().Should().Contain("content policy");
        _relay.Submissions.Should().Be(0);
    }

    [Fact]
    public async Task Wrong_keys_fail_over_and_never_leak_the_secret()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings(secret: "not-the-secret"));

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"bad keys","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("engine").GetString().Should().Be("apimart");
        task.GetRawText().Should().NotContain("not-the-secret").And.NotContain(SecretKey);
        _kling.RejectedTokens.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Polls_stay_pinned_to_the_engine_that_accepted_the_task()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());
        _kling.PollsToFinish = 4;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"pinned","duration":5}""");
        await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        _kling.Polls.Should().BeGreaterThanOrEqualTo(4);
        _relay.Polls.Should().Be(0);
        _relay.Submissions.Should().Be(0);
    }

    [Fact]
    public async Task Garbage_and_maintenance_answers_while_polling_are_retried()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());
        _kling.PollFaults.Enqueue("garbage");
        _kling.PollFaults.Enqueue("maintenance");
        _kling.PollFaults.Enqueue("garbage");

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"flaky","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
    }

    [Fact]
    public async Task An_upstream_failure_is_the_tasks_failure_with_its_reason()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());
        _kling.FailWithMessage = "Failure to pass the risk control system";

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"risky","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("failed");
        task.GetProperty("error").GetProperty("code").GetString().Should().Be("content_policy");
        task.GetProperty("error").GetProperty("message").GetString().Should().Contain("risk control");
    }

    [Fact]
    public async Task A_task_kling_no_longer_knows_is_failed_and_never_submitted_again()
    {
        // Kling bills every submission: unlike a self-hosted ComfyUI that forgot its queue, a task it has lost is not sent twice.
        await using var server = await KinemaTestServer.StartAsync(Settings(relay: false));
        _kling.NeverFinish = true;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"lost upstream","duration":5}""");
        await WaitUntilAsync(() => _kling.Tasks.Values.Any(task => task.ExternalTaskId == id && task.Polls > 0));
        _kling.Tasks.Clear();
        var failed = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));

        failed.GetProperty("status").GetString().Should().Be("failed", failed.ToString());
        failed.GetProperty("error").GetProperty("code").GetString().Should().Be("upstream_not_found");
        _kling.Submissions.Should().Be(1);
    }

    [Fact]
    public async Task A_task_deleted_while_its_video_is_being_archived_leaves_no_copy_behind()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings(relay: false));
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _kling.HoldResultDownloads = hold;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"deleted mid-archive","duration":5}""");
        await WaitUntilAsync(() => _kling.ResultDownloadsStarted > 0);
        using (var deleted = await server.Alice.DeleteAsync($"/v1/tasks/{id}"))
        {
            deleted.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        hold.SetResult();
        await WaitUntilAsync(() => _kling.ResultDownloadsServed > 0);
        // The archive goes on after the delete, saves its copy, and is refused the completion: the copy must go too.
        // It exists for a moment between the save and that refusal, so the test waits for the archive to end (its scratch
        // is gone), then for the copy to go, and then checks that nothing brings it back.
        await WaitUntilAsync(() => !Directory.Exists(Path.Combine(server.Paths.Work, id)));
        var results = Path.Combine(server.Paths.Results, id);
        await WaitUntilAsync(() => !Directory.Exists(results));
        var deadline = DateTime.UtcNow.AddSeconds(2);
        while (DateTime.UtcNow < deadline)
        {
            Directory.Exists(results).Should().BeFalse("a deleted task's video must not outlive it");
            await Task.Delay(50);
        }

        using var gone = await server.Alice.GetAsync($"/v1/tasks/{id}");
        gone.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_task_not_finished_by_its_deadline_is_failed_by_the_sweeper()
    {
        var settings = Settings();
        settings["Kinema:Upstream:Deadline"] = "00:00:02";
        settings["Kinema:Upstream:SweepInterval"] = "00:00:00.500";
        await using var server = await KinemaTestServer.StartAsync(settings);
        _kling.NeverFinish = true;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"never","duration":5}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));

        task.GetProperty("status").GetString().Should().Be("failed");
        task.GetProperty("error").GetProperty("code").GetString().Should().Be("deadline_exceeded");
        task.GetProperty("error").GetProperty("message").GetString().Should().Contain("within 2 s");
    }

    [Fact]
    public async Task The_relay_alone_serves_the_model_and_cancels_upstream()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings(kling: false));
        _relay.PollsToFinish = 1000;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"relay","duration":5}""");
        await WaitUntilAsync(() => _relay.Submissions == 1);
        await Task.Delay(300);
        using var cancel = await server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);

        cancel.StatusCode.Should().Be(HttpStatusCode.OK, await cancel.Content.ReadAsStringAsync());
        _relay.Tasks.Values.Single().Status.Should().Be("cancelled");
        (await server.Alice.GetTaskAsync(id)).GetProperty("status").GetString().Should().Be("cancelled");
    }

    [Fact]
    public async Task A_task_cancelled_while_its_submission_is_answered_is_cancelled_upstream_too()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings(kling: false));
        _relay.SubmitDelayAfterRecording = TimeSpan.FromSeconds(2);
        _relay.PollsToFinish = 1000;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"cancel mid-submit","duration":5}""");
        await WaitUntilAsync(() => _relay.Submissions == 1);
        using var cancel = await server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        await WaitUntilAsync(() => _relay.Tasks.Values.Single().Status == "cancelled");

        cancel.StatusCode.Should().Be(HttpStatusCode.OK);
        (await server.Alice.GetTaskAsync(id)).GetProperty("status").GetString().Should().Be("cancelled");
    }

    [Fact]
    public async Task A_callback_makes_the_completion_show_at_once_though_the_next_poll_is_far_off()
    {
        var settings = Settings();
        settings["Kinema:Upstream:FirstPoll"] = "00:01:00";
        settings["Kinema:Upstream:MaxPollInterval"] = "00:05:00";
        await using var server = await KinemaTestServer.StartAsync(settings);
        // The callback base is only known once the server listens: Kinema reads it per task, so set it now.
        server.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Kinema.Core.Upstream.UpstreamOptions>>().Value.CallbackBaseUrl = server.BaseAddress.ToString();
        _kling.NeverFinish = true;

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"call me","duration":5}""");
        await WaitUntilAsync(() => _kling.Tasks.Count == 1 && _kling.Tasks.Values.Single().CallbackUrl is not null);
        await Task.Delay(500);
        var sent = await _kling.CompleteWithCallbackAsync(_kling.Tasks.Keys.Single());
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(10));
        var seen = DateTimeOffset.UtcNow;

        task.GetProperty("status").GetString().Should().Be("completed");
        (seen - sent).Should().BeLessThan(TimeSpan.FromSeconds(3), "the callback triggered a poll; the scheduled one was a minute away");
        _kling.Tasks.Values.Single().CallbackUrl.Should().Contain("/callbacks/kling/" + id).And.Contain("token=");
    }

    [Fact]
    public async Task A_forged_callback_is_refused_and_changes_nothing()
    {
        await using var server = await KinemaTestServer.StartAsync(Settings());

        using var forged = await server.Anonymous.PostAsync("/callbacks/kling/task_01K8SGYNNNVBQTXNR4MM964S7K?token=abc", new StringContent("{}"));

        forged.StatusCode.Should().Be(HttpStatusCode.Forbidden);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not met");
            }

            await Task.Delay(50);
        }
    }
}
