using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.EndToEnd.Operations;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd.Storage;

/// <summary>
/// The result storage goes away under a running server: requests that need it are answered 503 with Retry-After in the
/// contract's envelope, not 500, and nothing the store already holds is lost; once the storage is back, a retry works.
/// </summary>
public sealed class ResultStorageOutageTests
{
    private const string Body = """{"model":"kling-v3","prompt":"a harbour at dusk, its bucket about to go away","duration":3,"aspect_ratio":"16:9"}""";

    [Fact]
    public async Task A_bucket_out_of_reach_is_answered_503_and_a_delete_retried_once_it_is_back_succeeds()
    {
        var s3 = await S3rverProcess.StartAsync();
        try
        {
            await using var server = await KinemaTestServer.StartAsync(s3.KinemaSettings());
            var id = await server.Alice.CreateAsync(Body);
            var task = await server.Alice.WaitForTerminalAsync(id);
            task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            var videoUrl = task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!;

            await s3.StopAsync();
            using var anonymous = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
            using var download = await anonymous.GetAsync(videoUrl);
            using var delete = await server.Alice.DeleteAsync($"/v1/tasks/{id}");
            using var upload = await server.Alice.PostAsync("/v1/uploads/images", PngForm());
            var kept = await server.Alice.GetTaskAsync(id);

            foreach (var (name, response) in new[] { ("download", download), ("delete", delete), ("upload", upload) })
            {
                await ShouldBeStorageOutageAsync(name, response);
            }

            kept.GetProperty("status").GetString().Should().Be("completed", "a delete that could not remove the files keeps the task");

            s3 = await s3.RestartAsync();
            using var retried = await server.Alice.DeleteAsync($"/v1/tasks/{id}");
            using var gone = await server.Alice.GetAsync($"/v1/tasks/{id}");
            retried.StatusCode.Should().Be(HttpStatusCode.OK, await retried.Content.ReadAsStringAsync());
            gone.StatusCode.Should().Be(HttpStatusCode.NotFound);
        }
        finally
        {
            await s3.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_render_that_finishes_while_the_bucket_is_away_waits_for_it_and_is_saved_once_it_is_back()
    {
        var s3 = await S3rverProcess.StartAsync();
        var downloads = Path.Combine(Path.GetTempPath(), "kinema-e2e-downloads", Guid.NewGuid().ToString("N"));
        try
        {
            await using var server = await KinemaTestServer.StartAsync(s3.KinemaSettings());
            await s3.StopAsync();
            var id = await server.Alice.CreateAsync(Body);

            // ffprobe reads the scratch video only once the render has finished it: from then on only the save is left.
            var rendered = Path.Combine(server.Paths.Work, id, "attempt-1", "video.mp4");
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (!await IsFinishedVideoAsync(rendered))
            {
                var meanwhile = await server.Alice.GetTaskAsync(id);
                meanwhile.GetProperty("status").GetString().Should().BeOneOf(["pending", "processing"],
                    $"a render is not failed for a storage outage: {meanwhile}");
                DateTime.UtcNow.Should().BeBefore(deadline, "the render should finish in scratch");
                await Task.Delay(200);
            }

            // Long enough for two refused saves (1 s, then 2 s apart).
            await Task.Delay(TimeSpan.FromSeconds(4));
            var waiting = await server.Alice.GetTaskAsync(id);
            s3 = await s3.RestartAsync();
            var task = await server.Alice.WaitForTerminalAsync(id);
            var report = await Ffprobe.ProbeAsync(await server.Alice.DownloadVideoAsync(task, downloads));

            waiting.GetProperty("status").GetString().Should().Be("processing", "a render is not failed for a storage outage");
            task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            task.GetProperty("engine").GetString().Should().Be("animatic");
            (report.VideoCodec, report.Width, report.Height).Should().Be(("h264", 1280, 720));
            report.Duration.Should().BeApproximately(3, 0.06);
            report.FrameRate.Should().BeApproximately(24, 0.01);
            report.AudioCodec.Should().BeNull("the request asked for no audio");
        }
        finally
        {
            await s3.DisposeAsync();
            if (Directory.Exists(downloads))
            {
                Directory.Delete(downloads, recursive: true);
            }
        }
    }

    [Fact]
    public async Task A_render_whose_bucket_stays_away_past_the_save_timeout_fails_saying_why_and_frees_its_worker()
    {
        var s3 = await S3rverProcess.StartAsync();
        try
        {
            var settings = s3.KinemaSettings();
            settings["Kinema:Scheduler:ResultSaveTimeout"] = "00:00:04";
            settings["Kinema:Scheduler:Workers"] = "1";
            await using var server = await KinemaTestServer.StartAsync(settings);
            await s3.StopAsync();
            var first = await server.Alice.CreateAsync(Body);
            var second = await server.Alice.CreateAsync(Body);

            var failed = await server.Alice.WaitForTerminalAsync(first);
            // The one worker takes the next task once the first gave up (the claim follows within a moment).
            var afterIt = await server.Alice.GetTaskAsync(second);
            for (var deadline = DateTime.UtcNow.AddSeconds(20);
                 afterIt.GetProperty("status").GetString() == "pending" && DateTime.UtcNow < deadline;
                 afterIt = await server.Alice.GetTaskAsync(second))
            {
                await Task.Delay(100);
            }

            failed.GetProperty("status").GetString().Should().Be("failed", failed.ToString());
            var error = failed.GetProperty("error");
            error.GetProperty("code").GetString().Should().Be("storage_unavailable", failed.ToString());
            error.GetProperty("message").GetString().Should().Contain("result storage could not take it for 4 s");
            afterIt.GetProperty("status").GetString().Should().BeOneOf(["processing", "failed"],
                $"the one worker moved on to the next task once the first gave up: {afterIt}");

            // Once the bucket is back, the next task's save goes through: the timeout ends one task, not the node.
            s3 = await s3.RestartAsync();
            var third = await server.Alice.WaitForTerminalAsync(await server.Alice.CreateAsync(Body));
            third.GetProperty("status").GetString().Should().Be("completed", third.ToString());
        }
        finally
        {
            await s3.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_poster_the_storage_will_not_take_fails_the_task_and_takes_its_already_saved_video_with_it()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:ResultSaveTimeout"] = "00:00:02",
        });
        var id = await server.Alice.CreateAsync(Body);
        // A directory where the poster's staging file goes: the video is saved, then every save of the poster is refused.
        var taskResults = Path.Combine(server.Paths.Results, id);
        Directory.CreateDirectory(Path.Combine(taskResults, "poster.jpg.partial"));

        var failed = await server.Alice.WaitForTerminalAsync(id);

        failed.GetProperty("status").GetString().Should().Be("failed", failed.ToString());
        failed.GetProperty("error").GetProperty("code").GetString().Should().Be("storage_unavailable", failed.ToString());
        failed.GetProperty("error").GetProperty("message").GetString().Should().Contain("could not take it for 2 s");
        Directory.Exists(taskResults).Should().BeFalse(
            "the video saved before the poster was refused belongs to no completed task, so it goes with the failure");
    }

    [Fact]
    public async Task A_results_disk_that_cannot_take_a_file_is_answered_503_until_it_can()
    {
        await using var server = await KinemaTestServer.StartAsync();
        if (Directory.Exists(server.Paths.Results))
        {
            Directory.Delete(server.Paths.Results, recursive: true);
        }

        // A file where the results directory should be: what a failed mount or a broken volume looks like to Kinema.
        await File.WriteAllTextAsync(server.Paths.Results, "not a directory");
        using var refused = await server.Alice.PostAsync("/v1/uploads/images", PngForm());
        File.Delete(server.Paths.Results);
        using var accepted = await server.Alice.PostAsync("/v1/uploads/images", PngForm());

        await ShouldBeStorageOutageAsync("upload", refused);
        accepted.StatusCode.Should().Be(HttpStatusCode.OK, await accepted.Content.ReadAsStringAsync());
    }

    private static async Task ShouldBeStorageOutageAsync(string name, HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, $"{name}: {text}");
        response.Headers.RetryAfter.Should().NotBeNull(name);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json", name);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetInt32().Should().Be(503, name);
        error.GetProperty("message").GetString().Should().Contain("result storage cannot be reached", name);
    }

    private static async Task<bool> IsFinishedVideoAsync(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            return (await Ffprobe.ProbeAsync(path)).Duration > 2.9;
        }
        catch (Exception exception) when (exception is InvalidOperationException or IOException or JsonException)
        {
            return false;
        }
    }

    private static MultipartFormDataContent PngForm()
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(TestImages.Solid(64, 36, SKColors.Teal));
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", "first.png");
        return form;
    }
}

/// <summary>
/// The upstream half of the outage: it counts deferred archive tries through <c>/metrics</c>, so it runs with the
/// isolated metrics tests. With other Kinema hosts alive in this process, OpenTelemetry merges their instruments into
/// this server's, and once one of them is disposed the merged counter is no longer exported at all: the count this test
/// waits for would never come (what failed it in full runs).
/// </summary>
[Collection(nameof(Operations.IsolatedMetrics))]
public sealed class UpstreamArchiveOutageTests
{
    [Fact]
    public async Task An_upstream_video_that_finishes_while_the_bucket_is_away_is_archived_within_seconds_of_its_return()
    {
        var s3 = await S3rverProcess.StartAsync();
        await using var kling = await Upstream.FakeKlingServer.StartAsync("bucket-ak", "bucket-sk");
        var downloads = Path.Combine(Path.GetTempPath(), "kinema-e2e-downloads", Guid.NewGuid().ToString("N"));
        try
        {
            await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>(s3.KinemaSettings())
            {
                ["Kinema:Engines:Kling:BaseUrl"] = kling.BaseAddress.ToString(),
                ["Kinema:Engines:Kling:AccessKey"] = "bucket-ak",
                ["Kinema:Engines:Kling:SecretKey"] = "bucket-sk",
                ["Kinema:Upstream:FirstPoll"] = "00:00:00.200",
                ["Kinema:Upstream:MaxPollInterval"] = "00:00:00.500",
                // A request the store never answers counts as an outage after this, not after the default minute.
                ["Kinema:Storage:S3:RequestTimeout"] = "00:00:05",
            });
            var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            kling.HoldResultDownloads = hold;
            var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a lighthouse whose bucket is away","duration":5}""");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (kling.ResultDownloadsStarted == 0)
            {
                DateTime.UtcNow.Should().BeBefore(deadline, "the upstream should finish and Kinema start to archive its video");
                await Task.Delay(50);
            }

            await s3.StopAsync();
            hold.SetResult();
            // Long enough for the refused archive to have been given up on and put off, and tried again more than once.
            var deferred = 0.0;
            var away = DateTime.UtcNow;
            while (deferred < 3)
            {
                await Task.Delay(200);
                var polls = PrometheusText.Parse(await server.Anonymous.GetStringAsync("/metrics"))
                    .Where(s => s.Name == "kinema_upstream_polls_total").ToList();
                deferred = polls.Where(s => s.Has("outcome", "storage_unavailable")).Sum(s => s.Value);
                if (DateTime.UtcNow - away > TimeSpan.FromSeconds(45))
                {
                    var outcomes = string.Join(", ", polls.Select(s => $"{string.Join(",", s.Labels.Select(l => $"{l.Key}={l.Value}"))}: {s.Value}"));
                    var scratch = Path.Combine(server.Paths.Work, id);
                    var files = Directory.Exists(scratch)
                        ? string.Join(", ", Directory.EnumerateFiles(scratch, "*", SearchOption.AllDirectories)
                            .Select(f => $"{Path.GetRelativePath(scratch, f)} ({new FileInfo(f).Length} bytes)"))
                        : "none";
                    throw new TimeoutException($"the archive was retried {deferred} times in 45 s of the bucket's absence; polls: {outcomes}; "
                                               + $"downloads started {kling.ResultDownloadsStarted}, served {kling.ResultDownloadsServed}; "
                                               + $"scratch: {files}; task: {await server.Alice.GetTaskAsync(id)}");
                }
            }

            var waiting = await server.Alice.GetTaskAsync(id);
            var keptCopy = Path.Combine(server.Paths.Work, id, "archive", "video.mp4");
            var keptWhileAway = File.Exists(keptCopy);
            s3 = await s3.RestartAsync();
            var back = DateTime.UtcNow;
            var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));
            var archivedAfter = DateTime.UtcNow - back;
            var report = await Ffprobe.ProbeAsync(await server.Alice.DownloadVideoAsync(task, downloads));

            waiting.GetProperty("status").GetString().Should().Be("processing", "an upstream task is not failed for our storage's outage");
            task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            task.GetProperty("engine").GetString().Should().Be("kling");
            archivedAfter.Should().BeLessThan(TimeSpan.FromSeconds(20), "the archive is retried every few seconds, not after its 2-minute claim");
            kling.Submissions.Should().Be(1, "the upstream task is archived again, not submitted again");
            keptWhileAway.Should().BeTrue("the checked download waits in scratch for the storage's return");
            kling.ResultDownloadsStarted.Should().Be(1, $"{deferred} tries to store it reused one download of the video");
            Directory.Exists(Path.Combine(server.Paths.Work, id)).Should().BeFalse("the kept copy goes once it is stored");
            report.VideoCodec.Should().Be("h264");
            report.Duration.Should().BeGreaterThan(0);
        }
        finally
        {
            await s3.DisposeAsync();
            if (Directory.Exists(downloads))
            {
                Directory.Delete(downloads, recursive: true);
            }
        }
    }
}
