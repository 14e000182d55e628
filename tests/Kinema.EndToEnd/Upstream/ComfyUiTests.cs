using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Engines.ComfyUI;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Kinema.EndToEnd.Upstream;

/// <summary>
/// The <c>comfyui</c> engine against a fake ComfyUI on loopback, with the Wan 2.2 workflows shipped in
/// <c>workflows/comfyui</c>: what the graph is filled with, the video it makes (checked with ffprobe), the refusals,
/// ComfyUI's own errors, cancel, and no prompt queued twice when an answer is lost.
/// </summary>
public sealed class ComfyUiTests : IAsyncLifetime
{
    private static readonly string Workflows = Path.Combine(Repository.Root, "workflows", "comfyui");
    private static readonly string TextWorkflow = Path.Combine(Workflows, "wan2.2-ti2v-5b-text.json");
    private static readonly string ImageWorkflow = Path.Combine(Workflows, "wan2.2-ti2v-5b-image.json");
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "kinema-comfyui-tests", Guid.NewGuid().ToString("N"));
    private FakeComfyUiServer _comfy = null!;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_scratch);
        _comfy = await FakeComfyUiServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _comfy.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }

    private Task<KinemaTestServer> StartKinemaAsync(
        string? imageWorkflow = null, string? textWorkflow = null, IDictionary<string, string?>? extra = null, string? dataDirectory = null)
    {
        var settings = new Dictionary<string, string?>
        {
            // Production refuses loopback for user URLs and upstream results alike; the configured ComfyUI host is the exception.
            ["Kinema:Fetch:AllowPrivateNetworks"] = "false",
            ["Kinema:Engines:ComfyUI:BaseUrl"] = _comfy.BaseAddress.ToString(),
            ["Kinema:Engines:ComfyUI:TextWorkflow"] = textWorkflow ?? TextWorkflow,
            ["Kinema:Engines:ComfyUI:ImageWorkflow"] = imageWorkflow ?? ImageWorkflow,
            ["Kinema:Upstream:FirstPoll"] = "00:00:00.200",
            ["Kinema:Upstream:MaxPollInterval"] = "00:00:00.400",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return KinemaTestServer.StartAsync(settings, dataDirectory);
    }

    [Fact]
    public async Task Text_to_video_fills_the_workflow_and_archives_the_video_comfyui_made()
    {
        await using var server = await StartKinemaAsync();

        var id = await server.Alice.CreateAsync(
            """{"model":"kling-v3","prompt":"a red fox trotting through fresh snow","negative_prompt":"blur, text","mode":"std","duration":5,"aspect_ratio":"16:9"}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("comfyui");
        var prompt = _comfy.PromptsFor(id).Should().ContainSingle().Subject;
        prompt.Id.Should().Be(ComfyUiEngine.PromptIdFor(id), "the prompt id is derived from the task id, so a retry is recognisable");
        var graph = prompt.Graph;
        graph["5"]!["inputs"]!["text"]!.GetValue<string>().Should().Be("a red fox trotting through fresh snow");
        graph["6"]!["inputs"]!["text"]!.GetValue<string>().Should().Be("blur, text");
        var latent = graph["7"]!["inputs"]!;
        (latent["width"]!.GetValue<int>(), latent["height"]!.GetValue<int>()).Should().Be((1280, 704), "720p rounded down to Wan's multiple of 32");
        latent["length"]!.GetValue<int>().Should().Be(121, "5 s at 24 fps, plus the first frame");
        graph["8"]!["inputs"]!["seed"]!.GetValue<long>().Should().Be(ComfyUiEngine.SeedFor(id));
        graph["10"]!["inputs"]!["fps"]!.GetValue<int>().Should().Be(24);
        graph["11"]!["inputs"]!["filename_prefix"]!.GetValue<string>().Should().Be($"kinema/{id}");
        prompt.ExtraData["kinema_task_id"]!.GetValue<string>().Should().Be(id);

        var video = await server.Alice.DownloadVideoAsync(task, _scratch);
        var report = await Ffprobe.ProbeAsync(video);
        report.VideoCodec.Should().Be("h264");
        (report.Width, report.Height).Should().Be((1280, 704));
        report.FrameRate.Should().BeApproximately(24, 0.01);
        report.FrameCount.Should().Be(121);
        report.Duration.Should().BeApproximately(121 / 24.0, 0.1);
        report.HasAudio.Should().BeFalse("the open model makes no sound, and the engine refuses audio: true");
        var result = task.GetProperty("result").GetProperty("videos")[0];
        (result.GetProperty("width").GetInt32(), result.GetProperty("height").GetInt32()).Should().Be((1280, 704), "the task reports the size it got");
        result.GetProperty("url")[0].GetString().Should().StartWith(server.BaseAddress.ToString(), "the result is served from Kinema's own storage");
    }

    [Fact]
    public async Task The_samplers_progress_from_the_websocket_shows_while_the_prompt_runs_before_any_poll()
    {
        _comfy.RunTime = TimeSpan.FromSeconds(4);
        // The first poll comes after the prompt has finished: any percentage seen before it was written from the socket.
        await using var server = await StartKinemaAsync(extra: new Dictionary<string, string?>
        {
            ["Kinema:Upstream:FirstPoll"] = "00:00:07",
            ["Kinema:Upstream:MaxPollInterval"] = "00:00:07",
        });

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"slow enough to watch"}""");
        var seen = new List<int>();
        while (true)
        {
            var task = await server.Alice.GetTaskAsync(id);
            if (task.GetProperty("status").GetString() == "completed")
            {
                task.GetProperty("progress").GetInt32().Should().Be(100);
                break;
            }

            task.GetProperty("status").GetString().Should().BeOneOf("pending", "processing");
            seen.Add(task.GetProperty("progress").GetInt32());
            await Task.Delay(100);
        }

        seen.Where(percent => percent is > 0 and < 100).Should().NotBeEmpty("the sampler's steps show as the task's progress");
        seen.Should().BeInAscendingOrder();
        var clientId = _comfy.PromptsFor(id).Single().ExtraData["client_id"]!.GetValue<string>();
        _comfy.Sockets.Should().ContainKey(clientId, "the prompt was queued under the client id of Kinema's open socket");
    }

    [Fact]
    public async Task After_a_Kinema_restart_the_progress_of_a_prompt_queued_before_it_still_shows()
    {
        _comfy.RunTime = TimeSpan.FromSeconds(12);
        var data = Path.Combine(_scratch, "data");
        string id;
        int before;
        await using (var first = await StartKinemaAsync(dataDirectory: data))
        {
            id = await first.Alice.CreateAsync("""{"model":"kling-v3","prompt":"long enough to restart under"}""");
            before = await ProgressAboveAsync(first, id, 0);
        }

        // The task's next poll is already due, so the restarted node polls it at once; then not for 20 s, longer than
        // the prompt has left. Whatever rises after that first poll was heard on the socket and written from it.
        await using var second = await StartKinemaAsync(dataDirectory: data, extra: new Dictionary<string, string?>
        {
            ["Kinema:Upstream:FirstPoll"] = "00:00:20",
            ["Kinema:Upstream:MaxPollInterval"] = "00:00:20",
        });
        var clientId = _comfy.PromptsFor(id).Single().ExtraData["client_id"]!.GetValue<string>();
        await Eventually(() => _comfy.Sockets.ContainsKey(clientId), "the restarted node reconnects under the client id the prompt was queued with");

        // ComfyUI sends progress only to that client id: under a new one, the task would sit at its old percentage.
        var atPoll = await ProgressAboveAsync(second, id, before);
        var between = await ProgressAboveAsync(second, id, atPoll);
        between.Should().BeInRange(atPoll + 1, 99, "the node that came back knows, from that poll, which task the prompt belongs to");
        _comfy.PromptsFor(id).Should().ContainSingle("the restart found the prompt rather than queuing it again");
        (await second.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1))).GetProperty("status").GetString().Should().Be("completed");
    }

    /// <summary>Waits, while the task is processing, for its progress to rise above a percentage; returns what it saw.</summary>
    private static async Task<int> ProgressAboveAsync(KinemaTestServer server, string id, int above)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            var task = await server.Alice.GetTaskAsync(id);
            task.GetProperty("status").GetString().Should().BeOneOf(["pending", "processing"], "the prompt was still running: " + task);
            var progress = task.GetProperty("progress").GetInt32();
            if (progress > above && progress < 100)
            {
                return progress;
            }

            DateTimeOffset.UtcNow.Should().BeBefore(deadline, $"progress should rise above {above}% while the prompt runs; it is {progress}%");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Image_to_video_uploads_the_first_frame_and_names_it_in_the_load_image_node()
    {
        await using var server = await StartKinemaAsync();
        var png = TestImages.Solid(96, 160, SKColors.Teal);

        var id = await server.Alice.CreateAsync(
            $$"""{"model":"kling-v3","prompt":"the teal wall slowly cracks","mode":"pro","duration":3,"aspect_ratio":"9:16","image_urls":["{{TestImages.DataUri(png)}}"]}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        var uploaded = $"kinema-{id}-first.png";
        _comfy.Uploads.Should().ContainKey(uploaded);
        _comfy.Uploads[uploaded].Should().Equal(png);
        var graph = _comfy.PromptsFor(id).Should().ContainSingle().Subject.Graph;
        graph["12"]!["inputs"]!["image"]!.GetValue<string>().Should().Be(uploaded);
        var latent = graph["7"]!["inputs"]!;
        (latent["width"]!.GetValue<int>(), latent["height"]!.GetValue<int>(), latent["length"]!.GetValue<int>()).Should().Be((1056, 1920, 73));
        var report = await Ffprobe.ProbeAsync(await server.Alice.DownloadVideoAsync(task, _scratch));
        (report.VideoCodec, report.Width, report.Height, report.FrameCount).Should().Be(("h264", 1056, 1920, 73L));
    }

    [Fact]
    public async Task First_and_last_frame_both_reach_a_workflow_with_a_last_frame_input()
    {
        var workflow = JsonNode.Parse(await File.ReadAllTextAsync(ImageWorkflow))!.AsObject();
        workflow["13"] = new JsonObject { ["class_type"] = "LoadImage", ["inputs"] = new JsonObject { ["image"] = "{{last_frame}}" } };
        var path = Path.Combine(_scratch, "first-last.json");
        await File.WriteAllTextAsync(path, workflow.ToJsonString());
        await using var server = await StartKinemaAsync(imageWorkflow: path);
        var first = TestImages.Solid(64, 64, SKColors.Red);
        var last = TestImages.Solid(64, 64, SKColors.Blue, SKEncodedImageFormat.Jpeg);

        var id = await server.Alice.CreateAsync(
            $$"""{"model":"kling-v3","prompt":"red turns to blue","aspect_ratio":"1:1","duration":3,"image_urls":["{{TestImages.DataUri(first)}}","{{TestImages.DataUri(last, "image/jpeg")}}"]}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        var graph = _comfy.PromptsFor(id).Single().Graph;
        graph["12"]!["inputs"]!["image"]!.GetValue<string>().Should().Be($"kinema-{id}-first.png");
        graph["13"]!["inputs"]!["image"]!.GetValue<string>().Should().Be($"kinema-{id}-last.jpg");
        _comfy.Uploads[$"kinema-{id}-last.jpg"].Should().Equal(last);
    }

    [Fact]
    public async Task What_the_workflows_cannot_honour_is_refused_at_create_naming_the_field()
    {
        await using var server = await StartKinemaAsync();
        var png = TestImages.DataUri(TestImages.Solid(32, 32, SKColors.Gray));

        var cases = new (string Body, string Param, string Says)[]
        {
            ("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6,"multi_prompt":[{"index":1,"prompt":"one","duration":3},{"index":2,"prompt":"two","duration":3}]}""",
                "multi_shot", "one shot"),
            ("""{"model":"kling-v3","prompt":"a fox","audio":true}""", "audio", "no audio"),
            ("""{"model":"kling-v3","prompt":"a fox","watermark":true}""", "watermark", "no watermark"),
            ($$"""{"model":"kling-v3","prompt":"go","image_urls":["{{png}}","{{png}}"]}""", "image_urls", "first frame only"),
        };
        foreach (var (body, param, says) in cases)
        {
            var error = await server.Alice.PostErrorAsync(body, 400);
            error.GetProperty("param").GetString().Should().Be(param, body);
            error.GetProperty("message").GetString().Should().Contain(says);
        }

        _comfy.Queued.Should().BeEmpty("nothing refused reaches ComfyUI");
    }

    [Fact]
    public async Task Without_an_image_workflow_a_first_frame_task_is_refused()
    {
        await using var server = await StartKinemaAsync(imageWorkflow: "");

        var error = await server.Alice.PostErrorAsync(
            $$"""{"model":"kling-v3","prompt":"go","image_urls":["{{TestImages.DataUri(TestImages.Solid(32, 32, SKColors.Gray))}}"]}""", 400);

        error.GetProperty("param").GetString().Should().Be("image_urls");
        error.GetProperty("message").GetString().Should().Contain("no image-to-video workflow");
    }

    [Fact]
    public async Task A_task_accepted_before_the_image_workflow_was_removed_fails_at_once_saying_why()
    {
        var data = Path.Combine(_scratch, "data");
        string id;
        await using (var before = await StartKinemaAsync(dataDirectory: data, extra: new Dictionary<string, string?> { ["Kinema:Scheduler:Enabled"] = "false" }))
        {
            id = await before.Alice.CreateAsync(
                $$"""{"model":"kling-v3","prompt":"go","image_urls":["{{TestImages.DataUri(TestImages.Solid(32, 32, SKColors.Gray))}}"]}""");
        }

        await using var after = await StartKinemaAsync(imageWorkflow: "", dataDirectory: data);
        var task = await after.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));

        task.GetProperty("status").GetString().Should().Be("failed", task.ToString());
        task.GetProperty("error").GetProperty("message").GetString().Should().Contain("comfyui: skipped, it cannot honour image_urls");
        _comfy.Queued.Should().BeEmpty();
    }

    [Fact]
    public async Task ComfyUI_refusing_the_graph_fails_the_task_with_its_reason()
    {
        var workflow = JsonNode.Parse(await File.ReadAllTextAsync(TextWorkflow))!.AsObject();
        workflow["4"]!["class_type"] = "ModelSamplingWanTurbo";
        var path = Path.Combine(_scratch, "missing-node.json");
        await File.WriteAllTextAsync(path, workflow.ToJsonString());
        await using var server = await StartKinemaAsync(textWorkflow: path);

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a fox"}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));

        task.GetProperty("status").GetString().Should().Be("failed");
        var error = task.GetProperty("error");
        error.GetProperty("code").GetString().Should().Be("invalid_parameters");
        error.GetProperty("message").GetString().Should().Contain("Cannot execute because node ModelSamplingWanTurbo does not exist");
        _comfy.Queued.Should().BeEmpty();
    }

    [Fact]
    public async Task A_node_failing_on_the_gpu_fails_the_task_naming_the_node_and_its_error()
    {
        await using var server = await StartKinemaAsync();
        _comfy.FailNextRunWith = "Allocation on device 0 would exceed allowed memory. (out of memory)";

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a fox","mode":"4k"}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));

        task.GetProperty("status").GetString().Should().Be("failed");
        var message = task.GetProperty("error").GetProperty("message").GetString();
        message.Should().Contain("node 8 (KSampler)").And.Contain("would exceed allowed memory").And.NotEndWith("\n");
    }

    [Fact]
    public async Task Cancel_removes_a_queued_prompt_and_interrupts_a_running_one()
    {
        await using var server = await StartKinemaAsync();
        _comfy.Paused = true;
        var queued = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"waits in the queue"}""");
        var promptId = ComfyUiEngine.PromptIdFor(queued);
        await Eventually(() => _comfy.IsPending(promptId), "the prompt reaches ComfyUI's queue");

        using (var cancel = await server.Alice.PostAsync($"/v1/tasks/{queued}/cancel", null))
        {
            cancel.StatusCode.Should().Be(System.Net.HttpStatusCode.OK, await cancel.Content.ReadAsStringAsync());
        }

        await Eventually(() => !_comfy.IsPending(promptId), "the cancel deletes it from ComfyUI's queue");
        (await server.Alice.GetTaskAsync(queued)).GetProperty("status").GetString().Should().Be("cancelled");

        _comfy.RunTime = TimeSpan.FromSeconds(30);
        _comfy.Paused = false;
        var running = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"runs on the gpu"}""");
        await Eventually(() => _comfy.PromptsFor(running).Count == 1 && !_comfy.IsPending(ComfyUiEngine.PromptIdFor(running)), "the prompt runs");
        using (var cancel = await server.Alice.PostAsync($"/v1/tasks/{running}/cancel", null))
        {
            cancel.StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        }

        await Eventually(() => _comfy.Interrupts.Contains(ComfyUiEngine.PromptIdFor(running)), "the running prompt is interrupted by its id");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_submission_whose_answer_is_lost_is_found_not_queued_twice(bool honorsPromptId)
    {
        // Kinema gives up on the answer after 1 s; ComfyUI had queued the prompt and answers after 3 s. Releases that
        // ignore prompt_id are found by the task id in extra_data instead.
        _comfy.HonorsPromptId = honorsPromptId;
        _comfy.SubmitAnswerDelay = TimeSpan.FromSeconds(3);
        await using var server = await StartKinemaAsync(extra: new Dictionary<string, string?> { ["Kinema:Engines:ComfyUI:Timeout"] = "00:00:01" });

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"asked once"}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        _comfy.PromptsFor(id).Should().ContainSingle("the timed-out submission was found in the queue, not sent again");
    }

    [Fact]
    public async Task Server_errors_on_submit_are_retried_after_checking_nothing_was_queued()
    {
        await using var server = await StartKinemaAsync();
        _comfy.SubmitFaults.Enqueue(500);

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"second time lucky"}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        _comfy.PromptsFor(id).Should().ContainSingle();
    }

    [Fact]
    public async Task A_ComfyUI_restart_that_forgets_the_prompt_submits_it_again_and_the_task_completes()
    {
        await using var server = await StartKinemaAsync();
        _comfy.Paused = true;
        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"forgotten once","mode":"std","duration":3,"aspect_ratio":"1:1"}""");
        var promptId = ComfyUiEngine.PromptIdFor(id);
        await Eventually(() => _comfy.IsPending(promptId), "the prompt is queued");

        _comfy.Restart();
        await Eventually(() => _comfy.PromptsFor(id).Count == 2 && _comfy.IsPending(promptId), "the lost prompt is queued again");
        (await server.Alice.GetTaskAsync(id)).GetProperty("status").GetString().Should().Be("processing", "a lost prompt is not a failed task");
        _comfy.Paused = false;
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("comfyui");
        task.GetProperty("failover").GetString().Should().Contain($"comfyui: lost prompt {promptId}").And.Contain("submitted again");
        var prompts = _comfy.PromptsFor(id);
        prompts.Select(prompt => prompt.Id).Should().Equal([promptId, promptId], "the second submission keeps the task's prompt id");
        prompts.Select(prompt => prompt.Graph["8"]!["inputs"]!["seed"]!.GetValue<long>()).Should().Equal(
            [ComfyUiEngine.SeedFor(id), ComfyUiEngine.SeedFor(id)], "and its seed, so it renders the same video");
        var report = await Ffprobe.ProbeAsync(await server.Alice.DownloadVideoAsync(task, _scratch));
        report.VideoCodec.Should().Be("h264");
        (report.Width, report.Height).Should().Be((704, 704), "720p 1:1 rounded down to Wan's multiple of 32");
        report.FrameRate.Should().BeApproximately(24, 0.01);
        report.FrameCount.Should().Be(73, "3 s at 24 fps, plus the first frame");
        report.HasAudio.Should().BeFalse();
    }

    [Fact]
    public async Task A_prompt_lost_on_every_submission_fails_once_its_attempts_are_spent_saying_so()
    {
        await using var server = await StartKinemaAsync();
        _comfy.Paused = true;
        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"crashes the GPU box every time"}""");
        var promptId = ComfyUiEngine.PromptIdFor(id);

        for (var submission = 1; submission <= 3; submission++)
        {
            var expected = submission;
            await Eventually(() => _comfy.PromptsFor(id).Count == expected && _comfy.IsPending(promptId), $"submission {expected} is queued");
            _comfy.Restart();
        }

        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));
        task.GetProperty("status").GetString().Should().Be("failed", task.ToString());
        var message = task.GetProperty("error").GetProperty("message").GetString();
        message.Should().Contain("was it restarted").And.Contain("submitted 3 times and lost each time");
        task.GetProperty("failover").GetString().Should().Contain("submitted again");
        _comfy.PromptsFor(id).Should().HaveCount(3, "Kinema:Store:MaxAttempts (3) bounds the submissions");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Kling_refusing_at_submit_fails_over_to_comfyui_unless_comfyui_cannot_honour_the_request(bool withAudio)
    {
        const string accessKey = "ak_test_comfy_failover";
        const string secretKey = "sk_test_comfy_failover_secret";
        await using var kling = await FakeKlingServer.StartAsync(accessKey, secretKey);
        kling.SubmitFaults.Enqueue((429, 1102, "insufficient balance"));
        await using var server = await StartKinemaAsync(extra: new Dictionary<string, string?>
        {
            ["Kinema:Engines:Kling:BaseUrl"] = kling.BaseAddress.ToString(),
            ["Kinema:Engines:Kling:AccessKey"] = accessKey,
            ["Kinema:Engines:Kling:SecretKey"] = secretKey,
            ["Kinema:Upstream:SubmitAttempts"] = "1",
        });

        var id = await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"kling first, then open models","audio":{{(withAudio ? "true" : "false")}}}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1));

        if (withAudio)
        {
            // The create checked kling, which makes audio; comfyui would drop it, so it is passed over, not handed the task.
            task.GetProperty("status").GetString().Should().Be("failed", task.ToString());
            task.GetProperty("error").GetProperty("message").GetString().Should().Contain("comfyui: skipped, it cannot honour audio");
            _comfy.Queued.Should().BeEmpty();
        }
        else
        {
            task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            task.GetProperty("engine").GetString().Should().Be("comfyui");
            task.GetProperty("failover").GetString().Should().Contain("kling");
            _comfy.PromptsFor(id).Should().ContainSingle();
        }
    }

    [Fact]
    public async Task A_workflow_saved_in_the_ui_format_stops_the_server_at_start_up_saying_how_to_export_it()
    {
        var path = Path.Combine(_scratch, "ui-format.json");
        await File.WriteAllTextAsync(path, """{"last_node_id":9,"nodes":[{"id":1,"type":"KSampler"}],"links":[]}""");

        var start = () => StartKinemaAsync(textWorkflow: path);

        var failure = (await start.Should().ThrowAsync<OptionsValidationException>()).Which;
        failure.Message.Should().Contain("Kinema:Engines:ComfyUI:TextWorkflow").And.Contain("Export (API)");
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting until " + what);
            }

            await Task.Delay(50);
        }
    }
}
