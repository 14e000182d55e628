using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Playwright;

namespace Kinema.EndToEnd.Playground;

/// <summary>The playground in a fresh browser context, driven as a person would: by labels and button names.</summary>
internal sealed class PlaygroundPage : IAsyncDisposable
{
    public static readonly TimeSpan RenderTimeout = TimeSpan.FromMinutes(2);

    private readonly IBrowserContext _context;

    private PlaygroundPage(IBrowserContext context, IPage page, Uri origin)
    {
        _context = context;
        Page = page;
        Origin = origin.GetLeftPart(UriPartial.Authority);
        page.Request += (_, request) => RequestUrls.Enqueue(request.Url);
        page.PageError += (_, error) => ScriptErrors.Add("pageerror: " + error);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                ScriptErrors.Add("console: " + message.Text);
            }
        };
    }

    public IPage Page { get; }

    /// <summary>The server's origin, <c>http://127.0.0.1:port</c>.</summary>
    public string Origin { get; }

    public ConcurrentQueue<string> RequestUrls { get; } = new();

    public ConcurrentBag<string> ScriptErrors { get; } = new();

    public ILocator Prompt => Page.GetByLabel("Prompt", new() { Exact = true });

    public ILocator Generate => Page.GetByRole(AriaRole.Button, new() { Name = "Generate" });

    public ILocator Video => Page.Locator("#player video");

    public static async Task<PlaygroundPage> OpenAsync(PlaygroundFixture fixture, int width = 1366, int height = 900)
    {
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            BaseURL = fixture.Server.BaseAddress.ToString(),
        });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        var playground = new PlaygroundPage(context, page, fixture.Server.BaseAddress);
        var response = await page.GotoAsync("/");
        response!.Status.Should().Be(200);
        return playground;
    }

    /// <summary>Pastes the key into the field labelled "API key" and presses Enter, as a person would.</summary>
    public async Task EnterKeyAsync(string key)
    {
        await Page.GetByLabel("API key").FillAsync(key);
        await Page.GetByLabel("API key").PressAsync("Enter");
    }

    /// <summary>Clicks Generate and returns the create body the page sent and the task id the server answered.</summary>
    public async Task<(JsonElement Request, string TaskId)> GenerateAsync()
    {
        var response = await Page.RunAndWaitForResponseAsync(
            () => Generate.ClickAsync(),
            r => r.Url.EndsWith("/v1/videos/generations", StringComparison.Ordinal) && r.Request.Method == "POST");
        response.Status.Should().Be(200, await response.TextAsync());
        var request = JsonDocument.Parse(response.Request.PostData!).RootElement.Clone();
        using var answer = JsonDocument.Parse(await response.TextAsync());
        return (request, answer.RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!);
    }

    /// <summary>
    /// Waits for the result's <c>&lt;video&gt;</c> to load its metadata, plays it muted until time moves, and reads what
    /// the browser itself decoded: width, height, duration.
    /// </summary>
    public async Task<(int Width, int Height, double Duration)> WaitForPlayingVideoAsync()
    {
        await Video.WaitForAsync(new() { Timeout = (float)RenderTimeout.TotalMilliseconds });
        var facts = await Video.EvaluateAsync<JsonElement>("""
            async (video) => {
              // evaluate() has no timeout of its own: every wait here is bounded, so a broken video fails, never hangs.
              const limit = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(what + ' timed out')), ms));
              const once = (name) => Promise.race([limit(30000, name), new Promise((resolve, reject) => {
                video.addEventListener(name, resolve, { once: true });
                video.addEventListener('error', () => reject(new Error('video error ' + (video.error && video.error.code))), { once: true });
              })]);
              if (video.readyState < 1) await once('loadedmetadata');
              if (video.readyState < 3) await once('canplay');
              video.muted = true;
              await Promise.race([video.play(), limit(30000, 'play')]);
              const until = Date.now() + 15000;
              while (video.currentTime === 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
              video.pause();
              return { width: video.videoWidth, height: video.videoHeight, duration: video.duration, time: video.currentTime };
            }
            """);
        facts.GetProperty("time").GetDouble().Should().BeGreaterThan(0, "the video really plays");
        return (facts.GetProperty("width").GetInt32(), facts.GetProperty("height").GetInt32(), facts.GetProperty("duration").GetDouble());
    }

    public Task<string?> LocalStorageAsync(string key) =>
        Page.EvaluateAsync<string?>("(key) => localStorage.getItem(key)", key);

    /// <summary>The text shown next to a field: the error slot the page keeps for that request path.</summary>
    public ILocator ErrorFor(string param) => Page.Locator($"[data-error-for=\"{param}\"]");

    public async Task ScreenshotAsync(string name)
    {
        Directory.CreateDirectory(PlaygroundFixture.ScreenshotDirectory);
        await Page.ScreenshotAsync(new PageScreenshotOptions
        {
            Path = Path.Combine(PlaygroundFixture.ScreenshotDirectory, name + ".png"),
            FullPage = true,
        });
    }

    /// <summary>Every request the page made went to the server's origin (data: and blob: never leave the page).</summary>
    public void RequestsStayedOnOrigin()
    {
        RequestUrls.Should().NotBeEmpty();
        RequestUrls.Where(url => !url.StartsWith("data:", StringComparison.Ordinal) && !url.StartsWith("blob:", StringComparison.Ordinal))
            .Should().OnlyContain(url => url.StartsWith(Origin + "/", StringComparison.Ordinal), "the page must call only its own origin");
    }

    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}
