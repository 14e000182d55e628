using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Kinema.EndToEnd.Playground;

/// <summary>The web playground at <c>/</c>, driven in headless Chromium against the real server.</summary>
[Collection(PlaygroundCollection.Name)]
public sealed class PlaygroundTests(PlaygroundFixture fixture)
{
    private KinemaTestServer Server => fixture.Server;

    [Theory]
    [InlineData("16:9", 5, 1280, 720)]
    [InlineData("9:16", 3, 720, 1280)]
    public async Task Key_prompt_generate_plays_a_video_of_the_asked_size_and_duration(string aspect, int seconds, int width, int height)
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        await playground.EnterKeyAsync(Server.AliceKey);

        await playground.Prompt.FillAsync("a golden retriever running on the beach, sunset, cinematic");
        await playground.Page.GetByLabel("Duration").FillAsync(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await playground.Page.GetByLabel(aspect).CheckAsync();
        var (request, taskId) = await playground.GenerateAsync();
        var video = await playground.WaitForPlayingVideoAsync();

        request.GetProperty("mode").GetString().Should().Be("std");
        request.GetProperty("aspect_ratio").GetString().Should().Be(aspect);
        request.GetProperty("duration").ValueKind.Should().Be(JsonValueKind.Number);
        (video.Width, video.Height).Should().Be((width, height));
        video.Duration.Should().BeApproximately(seconds, 0.1);
        var item = playground.Page.Locator($"[data-task-id=\"{taskId}\"]");
        (await item.TextContentAsync()).Should().Contain("completed").And.Contain("animatic (preview)");
        (await playground.Page.Locator("#player").TextContentAsync()).Should().Contain($"{width}×{height}").And.Contain("animatic (preview)");
        if (aspect == "16:9")
        {
            await playground.Page.GetByText("Task JSON").ClickAsync();
            await playground.ScreenshotAsync("playground-desktop-1366x900");
        }
    }

    [Fact]
    public async Task The_balance_shows_next_to_the_key_and_a_tasks_cost_in_the_list_and_the_balance_follows()
    {
        var keys = Server.Services.GetRequiredService<Kinema.Core.Tenants.IApiKeyStore>();
        var tenant = "carol-" + Guid.NewGuid().ToString("N")[..8];
        var carol = await keys.CreateAsync("carol", tenant, CancellationToken.None);
        await fixture.GrantAsync(tenant, 40);
        await using var playground = await PlaygroundPage.OpenAsync(fixture);

        await playground.EnterKeyAsync(carol.Key);
        await Assertions.Expect(playground.Page.Locator("#balance")).ToHaveTextAsync("Balance: 40 credits");
        await playground.Prompt.FillAsync("a lighthouse at dusk");
        var (request, _) = await playground.GenerateAsync();

        // kling-v3 std costs 1 credit a second by default: the 5 s default costs 5.
        request.GetProperty("duration").GetInt32().Should().Be(5);
        await Assertions.Expect(playground.Page.Locator("#task-list .task").First).ToContainTextAsync("cost 5");
        await Assertions.Expect(playground.Page.Locator("#balance")).ToHaveTextAsync("Balance: 35 credits");
        playground.ScriptErrors.Should().BeEmpty();
    }

    [Fact]
    public async Task A_storyboard_of_three_shots_renders_the_total_duration_from_three_multi_prompt_entries()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        var page = playground.Page;
        await playground.EnterKeyAsync(Server.AliceKey);
        await page.GetByLabel("Duration").FillAsync("6");
        await page.Locator("summary", new() { HasText = "Storyboard" }).ClickAsync();
        await page.GetByLabel("Multi-shot storyboard").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add shot" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add shot" }).ClickAsync();
        string[] prompts = ["wide shot of the beach", "close-up of the dog", "the dog runs into the sunset"];
        for (var i = 0; i < 3; i++)
        {
            await page.GetByLabel($"Shot {i + 1} prompt").FillAsync(prompts[i]);
            await page.GetByLabel($"Shot {i + 1} duration").FillAsync("2");
        }

        (await page.Locator("#shots-total").TextContentAsync()).Should().Contain("Total 6 s of 6 s");
        var (request, taskId) = await playground.GenerateAsync();
        var video = await playground.WaitForPlayingVideoAsync();

        request.GetProperty("multi_shot").GetBoolean().Should().BeTrue();
        request.GetProperty("shot_type").GetString().Should().Be("customize");
        var shots = request.GetProperty("multi_prompt").EnumerateArray().ToList();
        shots.Select(shot => shot.GetProperty("index").GetInt32()).Should().Equal(1, 2, 3);
        shots.Select(shot => shot.GetProperty("prompt").GetString()).Should().Equal(prompts);
        shots.Select(shot => shot.GetProperty("duration").GetInt32()).Should().Equal(2, 2, 2);
        request.TryGetProperty("prompt", out _).Should().BeFalse("a storyboard may omit the top-level prompt");
        video.Duration.Should().BeApproximately(6, 0.1);

        var task = await Server.Alice.GetTaskAsync(taskId);
        var file = await Server.Alice.DownloadVideoAsync(task, fixture.Downloads);
        var report = await Ffprobe.ProbeAsync(file);
        report.Duration.Should().BeApproximately(6, 0.06);
        report.FrameCount.Should().Be(6 * 24);
    }

    [Fact]
    public async Task A_storyboard_that_does_not_add_up_and_a_subject_short_of_images_are_not_sent()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        var page = playground.Page;
        await playground.EnterKeyAsync(await fixture.NewTenantKeyAsync("board"));
        await page.Locator("summary", new() { HasText = "Storyboard" }).ClickAsync();
        await page.GetByLabel("Multi-shot storyboard").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add shot" }).ClickAsync();
        await page.GetByLabel("Shot 1 prompt").FillAsync("one");
        await page.GetByLabel("Shot 2 prompt").FillAsync("two");
        await page.GetByLabel("Shot 2 duration").FillAsync("3");
        await page.Locator("summary", new() { HasText = "Subjects" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add subject" }).ClickAsync();
        await page.GetByLabel("Name").FillAsync("dog");
        await page.GetByLabel("Description").FillAsync("a golden retriever");
        await page.GetByLabel("Add images").SetInputFilesAsync(new FilePayload
        {
            Name = "front.png",
            MimeType = "image/png",
            Buffer = TestImages.Solid(64, 64, SkiaSharp.SKColors.Goldenrod),
        });
        await Assertions.Expect(page.GetByAltText("Subject 1 image 1")).ToBeVisibleAsync();

        await playground.Generate.ClickAsync();

        (await page.Locator("#shots-total").TextContentAsync()).Should().Contain("Total 8 s of 5 s");
        await Assertions.Expect(playground.ErrorFor("multi_prompt"))
            .ToContainTextAsync("the shots' durations add up to 8, but they must add up to duration (5)");
        await Assertions.Expect(playground.ErrorFor("elements[0].element_input_urls"))
            .ToHaveTextAsync("elements[0].element_input_urls must have 2 to 4 images (the first frontal), not 1");
        playground.RequestUrls.Should().NotContain(url => url.Contains("/v1/videos/generations", StringComparison.Ordinal));
        await playground.ScreenshotAsync("playground-storyboard-refused-1366x900");
    }

    [Fact]
    public async Task An_over_long_prompt_is_refused_on_the_page_naming_its_limit_and_no_task_is_created()
    {
        var key = await fixture.NewTenantKeyAsync("long");
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        await playground.EnterKeyAsync(key);

        await playground.Prompt.FillAsync(new string('a', 2501));
        await playground.Generate.ClickAsync();

        await Assertions.Expect(playground.ErrorFor("prompt")).ToHaveTextAsync("prompt must be at most 2500 characters (it has 2501)");
        (await playground.Page.Locator("#prompt-count").TextContentAsync()).Should().Be("2,501 / 2,500");
        (await playground.Prompt.GetAttributeAsync("aria-invalid")).Should().Be("true");
        playground.RequestUrls.Should().NotContain(url => url.Contains("/v1/videos/generations", StringComparison.Ordinal));
        using var client = Server.ClientFor(key);
        using var list = JsonDocument.Parse(await client.GetStringAsync("/v1/tasks"));
        list.RootElement.GetProperty("data").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task A_400_from_the_server_lands_next_to_the_field_it_names()
    {
        var key = await fixture.NewTenantKeyAsync("refused");
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        await playground.EnterKeyAsync(key);
        // The page always sends duration as a number; only the server sees this one, so the 400 must come back from it.
        await playground.Page.RouteAsync("**/v1/videos/generations", async route =>
        {
            var body = JsonNodeOf(route.Request.PostData!);
            body["duration"] = "5";
            await route.ContinueAsync(new RouteContinueOptions { PostData = System.Text.Encoding.UTF8.GetBytes(body.ToJsonString()) });
        });

        await playground.Prompt.FillAsync("a lighthouse in a storm");
        var response = await playground.Page.RunAndWaitForResponseAsync(
            () => playground.Generate.ClickAsync(), r => r.Url.EndsWith("/v1/videos/generations", StringComparison.Ordinal));

        response.Status.Should().Be(400);
        using var error = JsonDocument.Parse(await response.TextAsync());
        var param = error.RootElement.GetProperty("error").GetProperty("param").GetString();
        var message = error.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        param.Should().Be("duration");
        await Assertions.Expect(playground.ErrorFor("duration")).ToHaveTextAsync(message);
        (await playground.Page.GetByLabel("Duration").GetAttributeAsync("aria-invalid")).Should().Be("true");
        using var client = Server.ClientFor(key);
        using var list = JsonDocument.Parse(await client.GetStringAsync("/v1/tasks"));
        list.RootElement.GetProperty("data").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task No_request_leaves_the_origin_and_no_script_error_occurs()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        var page = playground.Page;
        await playground.EnterKeyAsync(Server.AliceKey);
        await playground.Prompt.FillAsync("a jazz band playing in a small club");
        await page.GetByLabel("Negative prompt").FillAsync("blurry");
        await page.GetByLabel("Audio").CheckAsync();
        await page.Locator("summary", new() { HasText = "Image to video" }).ClickAsync();
        await page.GetByLabel("Choose first frame").SetInputFilesAsync(new FilePayload
        {
            Name = "first.png",
            MimeType = "image/png",
            Buffer = TestImages.Solid(320, 180, SkiaSharp.SKColors.SteelBlue),
        });
        await Assertions.Expect(page.GetByAltText("First frame preview")).ToBeVisibleAsync();
        // The last frame by drag and drop: a PNG drawn in the page, dropped on its zone as a file would be.
        await page.Locator(".drop[data-slot=\"1\"]").EvaluateAsync("""
            async (zone) => {
              const canvas = document.createElement('canvas');
              canvas.width = 320;
              canvas.height = 180;
              const context = canvas.getContext('2d');
              context.fillStyle = '#c2410c';
              context.fillRect(0, 0, 320, 180);
              const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
              const transfer = new DataTransfer();
              transfer.items.add(new File([blob], 'last.png', { type: 'image/png' }));
              zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
            """);
        await Assertions.Expect(page.GetByAltText("Last frame preview")).ToBeVisibleAsync();
        var (request, _) = await playground.GenerateAsync();
        await playground.WaitForPlayingVideoAsync();
        await page.GetByText("Task JSON").ClickAsync();
        await page.GetByLabel("Status").SelectOptionAsync("completed");
        await Assertions.Expect(page.Locator("#task-list .task").First).ToBeVisibleAsync();

        request.GetProperty("image_urls").GetArrayLength().Should().Be(2);
        // Both pictures went up through POST /v1/uploads/images: the request names Kinema's own signed upload links.
        request.GetProperty("image_urls")[0].GetString().Should().Contain("/files/upl_").And.Contain("signature=");
        request.GetProperty("image_urls")[1].GetString().Should().Contain("/files/upl_").And.Contain("signature=");
        request.GetProperty("audio").GetBoolean().Should().BeTrue();
        (await page.Locator("#player").TextContentAsync()).Should().Contain("Audio").And.Contain("yes");
        playground.RequestsStayedOnOrigin();
        playground.ScriptErrors.Should().BeEmpty();
    }

    [Fact]
    public async Task The_key_is_kept_in_local_storage_forgotten_on_request_and_a_wrong_one_shows_the_401()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        var page = playground.Page;
        await Assertions.Expect(page.GetByLabel("std")).ToBeCheckedAsync();
        await Assertions.Expect(page.GetByLabel("Duration")).ToHaveValueAsync("5");
        await Assertions.Expect(page.GetByLabel("16:9")).ToBeCheckedAsync();

        await playground.EnterKeyAsync(Server.BobKey);
        await Assertions.Expect(page.Locator("#key-status")).ToHaveTextAsync("Key saved in this browser.");
        (await playground.LocalStorageAsync("kinema.apiKey")).Should().Be(Server.BobKey);
        await page.ReloadAsync();
        (await page.GetByLabel("API key").InputValueAsync()).Should().Be(Server.BobKey);

        await page.GetByRole(AriaRole.Button, new() { Name = "Forget key" }).ClickAsync();
        (await playground.LocalStorageAsync("kinema.apiKey")).Should().BeNull();
        (await page.GetByLabel("API key").InputValueAsync()).Should().BeEmpty();

        await page.GetByLabel("API key").FillAsync("kin_not_a_real_key");
        await page.GetByLabel("Prompt", new() { Exact = true }).FocusAsync(); // leaving the field takes the key
        await Assertions.Expect(page.Locator("#key-status")).ToContainTextAsync("(401)");
        await Assertions.Expect(page.Locator("#key-status")).ToContainTextAsync("invalid or revoked API key");
    }

    [Fact]
    public async Task The_list_pages_with_the_cursor_filters_by_status_and_cancels()
    {
        var key = await fixture.NewTenantKeyAsync("pager");
        using var client = Server.ClientFor(key);
        // Long pro renders queued behind each other: the newest stays pending for as long as the test needs.
        for (var i = 0; i < 22; i++)
        {
            await client.CreateAsync($$"""{"model":"kling-v3","prompt":"queued {{i}}","duration":15,"mode":"pro"}""");
        }

        try
        {
            await using var playground = await PlaygroundPage.OpenAsync(fixture);
            var page = playground.Page;
            await playground.EnterKeyAsync(key);
            await Assertions.Expect(page.Locator("#task-list .task")).ToHaveCountAsync(20);
            await page.GetByRole(AriaRole.Button, new() { Name = "Load more" }).ClickAsync();
            await Assertions.Expect(page.Locator("#task-list .task")).ToHaveCountAsync(22);
            await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Load more" })).ToBeHiddenAsync();

            var id = await page.Locator("#task-list .task").First.GetAttributeAsync("data-task-id");
            var newest = page.Locator($"#task-list [data-task-id=\"{id}\"]");
            await newest.GetByRole(AriaRole.Button, new() { Name = $"Cancel {id}" }).ClickAsync();
            await Assertions.Expect(newest).ToHaveAttributeAsync("data-status", "cancelled");
            (await client.GetTaskAsync(id!)).GetProperty("status").GetString().Should().Be("cancelled");

            await page.GetByLabel("Status").SelectOptionAsync("cancelled");
            await Assertions.Expect(page.Locator("#task-list .task")).ToHaveCountAsync(1);
            await Assertions.Expect(newest).ToBeVisibleAsync();
        }
        finally
        {
            using var list = JsonDocument.Parse(await client.GetStringAsync("/v1/tasks?limit=100"));
            foreach (var task in list.RootElement.GetProperty("data").EnumerateArray())
            {
                using var _ = await client.PostAsync($"/v1/tasks/{task.GetProperty("id").GetString()}/cancel", null);
            }
        }
    }

    [Fact]
    public async Task A_failed_task_shows_why_in_the_list_and_the_player()
    {
        var key = await fixture.NewTenantKeyAsync("failing");
        using var client = Server.ClientFor(key);
        // Nothing listens on port 1: the engine cannot fetch the first frame, so the task fails with a reason.
        var id = await client.CreateAsync("""{"model":"kling-v3","prompt":"x","duration":3,"image_urls":["http://127.0.0.1:1/first.png"]}""");
        var failed = await client.WaitForTerminalAsync(id);
        failed.GetProperty("status").GetString().Should().Be("failed");
        var reason = failed.GetProperty("error").GetProperty("message").GetString()!;

        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        await playground.EnterKeyAsync(key);
        var item = playground.Page.Locator($"[data-task-id=\"{id}\"]");
        await Assertions.Expect(item).ToContainTextAsync(reason);
        await item.GetByRole(AriaRole.Button).First.ClickAsync();
        await Assertions.Expect(playground.Page.Locator("#player .failure")).ToContainTextAsync(reason);
    }

    [Fact]
    public async Task A_finished_task_is_deleted_from_the_list_only_once_the_user_confirms()
    {
        var key = await fixture.NewTenantKeyAsync("deleting");
        using var client = Server.ClientFor(key);
        var id = await client.CreateAsync("""{"model":"kling-v3","prompt":"delete me from the page","duration":3}""");
        (await client.WaitForTerminalAsync(id)).GetProperty("status").GetString().Should().Be("completed");

        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        var page = playground.Page;
        await playground.EnterKeyAsync(key);
        var item = page.Locator($"[data-task-id=\"{id}\"]");
        await item.GetByRole(AriaRole.Button).First.ClickAsync();
        await Assertions.Expect(playground.Video).ToHaveCountAsync(1);
        var delete = item.GetByRole(AriaRole.Button, new() { Name = $"Delete {id}" });

        var asked = new List<string>();
        void Dismiss(object? sender, IDialog dialog)
        {
            asked.Add(dialog.Message);
            _ = dialog.DismissAsync();
        }

        page.Dialog += Dismiss;
        await delete.ClickAsync();
        page.Dialog -= Dismiss;
        asked.Should().ContainSingle().Which.Should().Contain(id).And.Contain("for good");
        await Assertions.Expect(item).ToBeVisibleAsync();
        (await client.GetTaskAsync(id)).GetProperty("status").GetString().Should().Be("completed", "a dismissed confirmation deletes nothing");

        page.Dialog += (_, dialog) => _ = dialog.AcceptAsync();
        await delete.ClickAsync();
        await Assertions.Expect(item).ToHaveCountAsync(0);
        await Assertions.Expect(playground.Video).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#tasks-message")).ToHaveTextAsync("No tasks yet.");
        using var gone = await client.GetAsync($"/v1/tasks/{id}");
        gone.StatusCode.Should().Be(System.Net.HttpStatusCode.NotFound);
        playground.ScriptErrors.Should().BeEmpty();
    }

    [Fact]
    public async Task The_page_fits_a_phone_screen()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture, 390, 844);
        await playground.EnterKeyAsync(Server.AliceKey);
        await playground.Prompt.FillAsync("a teapot on a table");
        await playground.Page.GetByLabel("1:1").CheckAsync();
        await playground.Page.GetByLabel("Duration").FillAsync("3");
        await playground.GenerateAsync();
        var video = await playground.WaitForPlayingVideoAsync();

        (video.Width, video.Height).Should().Be((720, 720));
        var scrollWidth = await playground.Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        scrollWidth.Should().BeLessThanOrEqualTo(390, "nothing may overflow sideways on a phone");
        await playground.ScreenshotAsync("playground-phone-390x844");
        playground.ScriptErrors.Should().BeEmpty();
    }

    [Fact]
    public async Task The_page_is_served_without_a_key_with_a_strict_policy_and_revalidation()
    {
        using var page = await Server.Anonymous.GetAsync("/");
        using var script = await Server.Anonymous.GetAsync("/playground/main.js");
        using var api = await Server.Anonymous.GetAsync("/v1/tasks");

        page.StatusCode.Should().Be(HttpStatusCode.OK);
        page.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        var csp = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        csp.Should().Contain("default-src 'self'").And.Contain("img-src 'self' data: blob:").And.Contain("media-src 'self' blob:")
            .And.NotContain("unsafe-inline").And.NotContain("unsafe-eval");
        page.Headers.CacheControl!.NoCache.Should().BeTrue();
        script.StatusCode.Should().Be(HttpStatusCode.OK);
        script.Content.Headers.ContentType!.MediaType.Should().Be("text/javascript");
        api.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "everything under /v1 still needs a key");

        using var again = new HttpRequestMessage(HttpMethod.Get, "/playground/main.js");
        again.Headers.IfNoneMatch.Add(script.Headers.ETag!);
        using var revalidated = await Server.Anonymous.SendAsync(again);
        revalidated.StatusCode.Should().Be(HttpStatusCode.NotModified);
        using var missing = await Server.Anonymous.GetAsync("/playground/nope.js");
        missing.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    private static System.Text.Json.Nodes.JsonObject JsonNodeOf(string json) =>
        System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
}

/// <summary>The playground tests share one server and one browser, and run one at a time (the machine is small).</summary>
[CollectionDefinition(Name)]
public sealed class PlaygroundCollection : ICollectionFixture<PlaygroundFixture>
{
    public const string Name = "Playground";
}
