using System.Net;
using System.Text.Json;
using Kinema.Core.Tenants;
using Kinema.EndToEnd.Infrastructure;
using Kinema.EndToEnd.Webhooks;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace Kinema.EndToEnd.OpenAi;

/// <summary>
/// The official <c>openai</c> npm package (7.x), unchanged, against Kinema's <c>/v1/videos</c>: only its base URL and
/// key point at Kinema. Every video it makes is a task like any other.
/// </summary>
public sealed class OpenAiSdkTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private OpenAiNode Sdk(string? key = null) => new(Server.BaseAddress, key ?? Server.AliceKey);

    private async Task<string> NewTenantKeyAsync(string name) =>
        (await Server.Services.GetRequiredService<IApiKeyStore>().CreateAsync(name, name + Guid.NewGuid().ToString("N")[..8], CancellationToken.None)).Key;

    private string Download(string name) => Path.Combine(Directory.CreateDirectory(fixture.Downloads).FullName, name);

    [Fact]
    public async Task Sdk_creates_polls_downloads_every_variant_remixes_and_deletes_a_video()
    {
        var sdk = Sdk();

        var created = await sdk.SucceedAsync("create", new { prompt = "a paper boat on a pond", seconds = "3", size = "1280x720" });
        created.GetProperty("object").GetString().Should().Be("video");
        created.GetProperty("status").GetString().Should().BeOneOf("queued", "in_progress");
        created.GetProperty("model").GetString().Should().Be("kling-v3");
        created.GetProperty("seconds").GetString().Should().Be("3");
        created.GetProperty("size").GetString().Should().Be("1280x720");
        created.GetProperty("remixed_from_video_id").ValueKind.Should().Be(JsonValueKind.Null);
        var id = created.GetProperty("id").GetString()!;
        id.Should().StartWith("task_", "a video is a task: its id is the task id");

        var polled = await sdk.SucceedAsync("poll", new { id });
        var video = polled.GetProperty("video");
        video.GetProperty("status").GetString().Should().Be("completed", polled.ToString());
        video.GetProperty("progress").GetInt32().Should().Be(100);
        video.GetProperty("prompt").GetString().Should().Be("a paper boat on a pond");
        video.GetProperty("completed_at").GetInt64().Should().BeGreaterThanOrEqualTo(video.GetProperty("created_at").GetInt64());
        video.GetProperty("error").ValueKind.Should().Be(JsonValueKind.Null);

        // The same task through the contract's own API and list.
        var task = await Server.Alice.GetTaskAsync(id);
        task.GetProperty("status").GetString().Should().Be("completed");
        using (var tasks = JsonDocument.Parse(await Server.Alice.GetStringAsync("/v1/tasks?limit=100")))
        {
            tasks.RootElement.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()).Should().Contain(id);
        }

        var mp4 = Download(id + ".mp4");
        var downloaded = await sdk.SucceedAsync("download", new { id, @out = mp4 });
        downloaded.GetProperty("contentType").GetString().Should().Be("video/mp4");
        var media = await Ffprobe.ProbeAsync(mp4);
        media.VideoCodec.Should().Be("h264");
        (media.Width, media.Height).Should().Be((1280, 720));
        media.Duration.Should().BeApproximately(3, 0.3);
        media.HasAudio.Should().BeFalse("the façade asks for no audio");

        foreach (var variant in new[] { "thumbnail", "spritesheet" })
        {
            var jpeg = Download($"{id}.{variant}.jpg");
            var image = await sdk.SucceedAsync("download", new { id, variant, @out = jpeg });
            image.GetProperty("contentType").GetString().Should().Be("image/jpeg");
            var bytes = await File.ReadAllBytesAsync(jpeg);
            bytes.Take(3).Should().Equal([0xFF, 0xD8, 0xFF], $"the {variant} is a JPEG");
            var header = Contracts.Rules.ImageHeader.TryRead(bytes, out var problem);
            header.Should().NotBeNull(problem);
            if (variant == "spritesheet")
            {
                (header!.Width, header.Height).Should().Be((5 * 256, 5 * 144), "a 5×5 grid of 256-pixel-wide 16:9 frames");
            }
        }

        var remix = await sdk.SucceedAsync("remix", new { id, prompt = "the same boat at night" });
        remix.GetProperty("remixed_from_video_id").GetString().Should().Be(id);
        remix.GetProperty("prompt").GetString().Should().Be("the same boat at night");
        remix.GetProperty("seconds").GetString().Should().Be("3");
        remix.GetProperty("size").GetString().Should().Be("1280x720");
        var remixId = remix.GetProperty("id").GetString()!;
        remixId.Should().NotBe(id);
        var remixed = await sdk.SucceedAsync("poll", new { id = remixId });
        remixed.GetProperty("video").GetProperty("status").GetString().Should().Be("completed");
        remixed.GetProperty("video").GetProperty("remixed_from_video_id").GetString().Should().Be(id);

        var deleted = await sdk.SucceedAsync("delete", new { id });
        deleted.GetProperty("id").GetString().Should().Be(id);
        deleted.GetProperty("object").GetString().Should().Be("video.deleted");
        deleted.GetProperty("deleted").GetBoolean().Should().BeTrue();

        var gone = await sdk.FailAsync("retrieve", new { id });
        gone.GetProperty("name").GetString().Should().Be("NotFoundError");
        gone.GetProperty("status").GetInt32().Should().Be(404);
        (await sdk.FailAsync("download", new { id, @out = mp4 })).GetProperty("name").GetString().Should().Be("NotFoundError");
        using var taskAfter = await Server.Alice.GetAsync($"/v1/tasks/{id}");
        taskAfter.StatusCode.Should().Be(HttpStatusCode.NotFound, "the video and its task are one");
        (await Server.Services.GetRequiredService<Core.Storage.IResultStorage>().FindAsync(id, "video.mp4", CancellationToken.None))
            .Should().BeNull("its files are removed too");
        (await sdk.SucceedAsync("retrieve", new { id = remixId })).GetProperty("status").GetString().Should().Be("completed",
            "deleting a video leaves its remixes alone");
    }

    [Fact]
    public async Task Sdk_uploads_an_input_reference_and_pages_through_the_list_both_ways()
    {
        var sdk = Sdk(await NewTenantKeyAsync("paging"));
        var png = Download($"reference-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(png, TestImages.Solid(360, 640, SKColors.OrangeRed));

        var uploaded = await sdk.SucceedAsync("createAndPoll",
            new { prompt = "the orange frame comes alive", seconds = "4", size = "720x1280", imagePath = png });
        var video = uploaded.GetProperty("video");
        video.GetProperty("status").GetString().Should().Be("completed", uploaded.ToString());
        video.GetProperty("size").GetString().Should().Be("720x1280");
        var uploadedId = video.GetProperty("id").GetString()!;
        var mp4 = Download(uploadedId + ".mp4");
        await sdk.SucceedAsync("download", new { id = uploadedId, @out = mp4 });
        var media = await Ffprobe.ProbeAsync(mp4);
        (media.Width, media.Height).Should().Be((720, 1280));
        media.Duration.Should().BeApproximately(4, 0.3);

        var byUrl = await sdk.SucceedAsync("create", new
        {
            prompt = "a square from a data URL",
            seconds = "3",
            size = "1080x1080",
            imageUrl = TestImages.DataUri(TestImages.Solid(64, 64, SKColors.Teal)),
        });
        byUrl.GetProperty("size").GetString().Should().Be("1080x1080");
        var ids = new List<string> { uploadedId, byUrl.GetProperty("id").GetString()! };
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await sdk.SucceedAsync("create", new { prompt = $"filler {i}", seconds = "3" })).GetProperty("id").GetString()!);
        }

        var pages = (await sdk.SucceedAsync("listPages", new { limit = 2 })).GetProperty("pages").EnumerateArray()
            .Select(page => page.EnumerateArray().Select(v => v.GetString()!).ToList()).ToList();
        pages.Select(p => p.Count).Should().Equal([2, 2, 1], "five videos in pages of two, fetched with after=last_id");
        pages.SelectMany(p => p).Should().Equal(Enumerable.Reverse(ids), "newest first by default");

        var ascending = (await sdk.SucceedAsync("listAll", new { limit = 2, order = "asc" })).GetProperty("ids")
            .EnumerateArray().Select(v => v.GetString()!).ToList();
        ascending.Should().Equal(ids, "order=asc is oldest first, paged the same way");
    }

    [Fact]
    public async Task The_readme_snippet_runs_unchanged_but_for_the_base_url()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "README.md"));
        var section = readme[readme.IndexOf("## OpenAI SDK", StringComparison.Ordinal)..];
        var start = section.IndexOf("```js\n", StringComparison.Ordinal) + "```js\n".Length;
        var snippet = section[start..section.IndexOf("```", start, StringComparison.Ordinal)]
            .Replace("http://127.0.0.1:8080/v1", new Uri(Server.BaseAddress, "/v1").ToString(), StringComparison.Ordinal);
        var directory = Directory.CreateDirectory(Path.Combine(fixture.Downloads, "readme-" + Guid.NewGuid().ToString("N"))).FullName;
        await File.WriteAllTextAsync(Path.Combine(directory, "snippet.mjs"), snippet);
        // `import … from 'openai'` resolves through a node_modules beside the script, as in a user's project.
        Directory.CreateSymbolicLink(Path.Combine(directory, "node_modules"), NodeModules.Find("openai"));
        await File.WriteAllBytesAsync(Path.Combine(directory, "first.png"), TestImages.Solid(640, 360, SKColors.SteelBlue));

        var startInfo = new System.Diagnostics.ProcessStartInfo("node", ["snippet.mjs"])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.Environment["KINEMA_API_KEY"] = await NewTenantKeyAsync("readme");
        using var process = System.Diagnostics.Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);

        process.ExitCode.Should().Be(0, await error);
        (await output).Should().MatchRegex("task_[0-9A-Z]{26} (queued|in_progress|completed)", "the list prints the remix and the video");
        var media = await Ffprobe.ProbeAsync(Path.Combine(directory, "boat.mp4"));
        (media.Width, media.Height).Should().Be((1920, 1080));
        media.Duration.Should().BeApproximately(5, 0.3);
    }

    [Fact]
    public async Task Sdk_raises_its_typed_errors_from_kinemas_envelope()
    {
        var sdk = Sdk();

        var seconds = await sdk.FailAsync("create", new { prompt = "too long", seconds = "20" });
        seconds.GetProperty("name").GetString().Should().Be("BadRequestError");
        seconds.GetProperty("status").GetInt32().Should().Be(400);
        seconds.GetProperty("param").GetString().Should().Be("seconds");

        var size = await sdk.FailAsync("create", new { prompt = "a size Kinema cannot make", size = "1024x1792" });
        size.GetProperty("name").GetString().Should().Be("BadRequestError");
        size.GetProperty("param").GetString().Should().Be("size");
        var message = size.GetProperty("message").GetString()!;
        foreach (var valid in new[] { "1280x720", "720x1280", "720x720", "1920x1080", "1080x1920", "1080x1080", "3840x2160", "2160x3840", "2160x2160" })
        {
            message.Should().Contain(valid);
        }

        var notImage = Download($"not-an-image-{Guid.NewGuid():N}.png");
        await File.WriteAllTextAsync(notImage, "hello, I am text");
        var reference = await sdk.FailAsync("create", new { prompt = "p", imagePath = notImage });
        reference.GetProperty("name").GetString().Should().Be("BadRequestError");
        reference.GetProperty("param").GetString().Should().Be("input_reference");

        var model = await sdk.FailAsync("create", new { prompt = "p", model = "sora-2" });
        model.GetProperty("param").GetString().Should().Be("model");

        var key = await Sdk("kin_not-a-real-key").FailAsync("create", new { prompt = "p" });
        key.GetProperty("name").GetString().Should().Be("AuthenticationError");
        key.GetProperty("status").GetInt32().Should().Be(401);

        (await sdk.FailAsync("retrieve", new { id = "task_01KB000000000000000000000Z" })).GetProperty("name").GetString()
            .Should().Be("NotFoundError");
        (await Sdk(Server.BobKey).FailAsync("retrieve",
                new { id = (await sdk.SucceedAsync("create", new { prompt = "alice's", seconds = "3" })).GetProperty("id").GetString() }))
            .GetProperty("name").GetString().Should().Be("NotFoundError", "another tenant's video does not exist for this key");
    }

    [Fact]
    public async Task Webhook_endpoints_receive_video_completed_that_the_sdk_unwraps()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var key = await NewTenantKeyAsync("hooks");
        using var http = Server.ClientFor(key);
        async Task<string> AddEndpointAsync(string name, string? events)
        {
            var body = events is null ? $$"""{"url":"{{receiver.Url(name)}}"}""" : $$"""{"url":"{{receiver.Url(name)}}","events":{{events}}}""";
            using var response = await http.PostAsync("/v1/webhooks", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.OK, text);
            using var created = JsonDocument.Parse(text);
            return created.RootElement.GetProperty("secret").GetString()!;
        }

        var secret = await AddEndpointAsync("all", null);
        await AddEndpointAsync("tasks-only", """["task.completed"]""");
        receiver.Secret = secret;

        var sdk = Sdk(key);
        var id = (await sdk.SucceedAsync("create", new { prompt = "announce me", seconds = "3" })).GetProperty("id").GetString()!;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        WebhookReceiver.Received? videoEvent = null;
        while ((videoEvent = receiver.Deliveries.FirstOrDefault(d => d.Path == "all" && d.Body.Contains("\"video.completed\"", StringComparison.Ordinal))) is null
               || receiver.Deliveries.Count(d => d.Body.Contains(id, StringComparison.Ordinal)) < 3)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, $"deliveries so far: {string.Join(" | ", receiver.Deliveries.Select(d => d.Path + " " + d.Body))}");
            await Task.Delay(100);
        }

        var unwrapped = await sdk.SucceedAsync("unwrap", new
        {
            body = videoEvent.Body,
            headers = new Dictionary<string, string>
            {
                ["webhook-id"] = videoEvent.Id,
                ["webhook-timestamp"] = videoEvent.Timestamp,
                ["webhook-signature"] = videoEvent.Signature,
            },
            secret,
        });
        unwrapped.GetProperty("type").GetString().Should().Be("video.completed");
        unwrapped.GetProperty("object").GetString().Should().Be("event");
        unwrapped.GetProperty("id").GetString().Should().StartWith("evt_");
        unwrapped.GetProperty("created_at").GetInt64().Should().BePositive();
        unwrapped.GetProperty("data").GetProperty("id").GetString().Should().Be(id);

        var tampered = await sdk.RunAsync("unwrap", new
        {
            body = videoEvent.Body.Replace(id, "task_01KB000000000000000000000Z", StringComparison.Ordinal),
            headers = new Dictionary<string, string>
            {
                ["webhook-id"] = videoEvent.Id,
                ["webhook-timestamp"] = videoEvent.Timestamp,
                ["webhook-signature"] = videoEvent.Signature,
            },
            secret,
        });
        tampered.GetProperty("error").GetProperty("name").GetString().Should().Be("InvalidWebhookSignatureError");

        var byPath = receiver.Deliveries.Where(d => d.Body.Contains(id, StringComparison.Ordinal))
            .Select(d => (d.Path, Type: JsonDocument.Parse(d.Body).RootElement.GetProperty("type").GetString())).ToList();
        byPath.Should().BeEquivalentTo([("all", "task.completed"), ("all", "video.completed"), ("tasks-only", "task.completed")],
            "an endpoint without a filter gets both events; one filtered to task.completed gets only that");
    }
}
