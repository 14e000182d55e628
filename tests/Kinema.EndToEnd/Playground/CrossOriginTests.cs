using System.Net;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Kinema.EndToEnd.Playground;

/// <summary>
/// A page of a web app on its own loopback origin (<c>http://127.0.0.1:P</c>, allowed) and the same page as
/// <c>http://localhost:P</c> (another origin, not allowed), with a Kinema server that allows the first; plus Debian's
/// headless Chromium to call it as a browser does.
/// </summary>
public sealed class CrossOriginFixture : IAsyncLifetime
{
    private WebApplication _app = null!;
    private IPlaywright? _playwright;

    internal KinemaTestServer Server { get; private set; } = null!;
    internal IBrowser Browser { get; private set; } = null!;
    internal string AllowedOrigin { get; private set; } = "";
    internal string OtherOrigin { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapGet("/", () => Results.Content("<!doctype html><title>a video app</title><p>app</p>", "text/html"));
        // The official openai package as a page loads it: its ES modules, served as they are installed (it imports no
        // bare module names, so a browser needs no bundler).
        var openai = Path.GetFullPath(Path.Combine(Kinema.Testing.NodeModules.Find("openai"), "openai"));
        _app.MapGet("/openai/{**path}", (string path) =>
        {
            var file = Path.GetFullPath(Path.Combine(openai, path));
            return file.StartsWith(openai + Path.DirectorySeparatorChar, StringComparison.Ordinal) && (file.EndsWith(".mjs", StringComparison.Ordinal) || file.EndsWith(".js", StringComparison.Ordinal))
                   && File.Exists(file)
                ? Results.File(file, "text/javascript")
                : Results.NotFound();
        });
        await _app.StartAsync();
        var port = new Uri(_app.Urls.First()).Port;
        AllowedOrigin = $"http://127.0.0.1:{port}";
        OtherOrigin = $"http://localhost:{port}";
        Server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Cors:AllowedOrigins:0"] = AllowedOrigin,
            ["Kinema:Cors:AllowedOrigins:1"] = "https://app.example.com",
        });
        _playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-quic"],
            Timeout = 60_000,
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        await Server.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary><c>Kinema:Cors:AllowedOrigins</c>: browsers on those origins may call the API and read its answers and files.</summary>
public sealed class CrossOriginTests(CrossOriginFixture fixture) : IClassFixture<CrossOriginFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private async Task<IPage> OpenAsync(IBrowserContext context, string origin)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(origin + "/");
        return page;
    }

    [Fact]
    public async Task A_page_on_an_allowed_origin_creates_a_task_polls_it_and_downloads_its_video_range()
    {
        await using var context = await fixture.Browser.NewContextAsync();
        var page = await OpenAsync(context, fixture.AllowedOrigin);

        // The page does what a front end does: a JSON create with the key and an Idempotency-Key (a preflight), a poll
        // until the task ends, then the result file by Range, reading the headers Kinema exposes.
        var outcome = await page.EvaluateAsync<JsonElement>("""
            async ([base, key]) => {
              const headers = { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json', 'Idempotency-Key': 'cors-' + Date.now() };
              const created = await fetch(base + '/v1/videos/generations', { method: 'POST', headers,
                body: JSON.stringify({ model: 'kling-v3', prompt: 'a paper boat on a pond', duration: 3 }) });
              const createdBody = await created.json();
              const id = createdBody.data[0].task_id;
              let task;
              for (let i = 0; i < 600; i++) {
                const polled = await fetch(base + '/v1/tasks/' + id, { headers: { Authorization: 'Bearer ' + key } });
                task = (await polled.json()).data;
                if (['completed', 'failed', 'cancelled'].includes(task.status)) break;
                await new Promise(r => setTimeout(r, 200));
              }
              const url = task.result.videos[0].url[0];
              const range = await fetch(url, { headers: { Range: 'bytes=0-7' } });
              const bytes = new Uint8Array(await range.arrayBuffer());
              const whole = await fetch(url);
              const wrongKey = await fetch(base + '/v1/tasks/' + id, { headers: { Authorization: 'Bearer kin_nope' } });
              return {
                createStatus: created.status, requestId: created.headers.get('x-request-id'), status: task.status,
                rangeStatus: range.status, contentRange: range.headers.get('content-range'),
                ftyp: String.fromCharCode(...bytes.slice(4, 8)), wholeLength: (await whole.arrayBuffer()).byteLength,
                wholeType: whole.headers.get('content-type'), wrongKeyStatus: wrongKey.status,
                wrongKeyType: (await wrongKey.json()).error.type,
              };
            }
            """, new[] { Server.BaseAddress.ToString().TrimEnd('/'), Server.AliceKey });

        outcome.GetProperty("createStatus").GetInt32().Should().Be(200);
        outcome.GetProperty("requestId").GetString().Should().NotBeNullOrEmpty();
        outcome.GetProperty("status").GetString().Should().Be("completed");
        outcome.GetProperty("rangeStatus").GetInt32().Should().Be(206);
        outcome.GetProperty("contentRange").GetString().Should().StartWith("bytes 0-7/");
        outcome.GetProperty("ftyp").GetString().Should().Be("ftyp");
        var length = long.Parse(outcome.GetProperty("contentRange").GetString()!.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture);
        outcome.GetProperty("wholeLength").GetInt64().Should().Be(length);
        outcome.GetProperty("wholeType").GetString().Should().Be("video/mp4");
        outcome.GetProperty("wrongKeyStatus").GetInt32().Should().Be(401);
        outcome.GetProperty("wrongKeyType").GetString().Should().Be("authentication_error");
    }

    [Fact]
    public async Task The_official_openai_sdk_in_a_page_creates_polls_and_downloads_a_video()
    {
        await using var context = await fixture.Browser.NewContextAsync();
        var page = await OpenAsync(context, fixture.AllowedOrigin);

        var outcome = await page.EvaluateAsync<JsonElement>("""
            async ([base, key]) => {
              const { default: OpenAI } = await import('/openai/index.mjs');
              const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, dangerouslyAllowBrowser: true, maxRetries: 0 });
              let video = await client.videos.create({ model: 'kling-v3', prompt: 'a kite over the dunes', seconds: '4', size: '720x1280' });
              for (let i = 0; i < 600 && !['completed', 'failed'].includes(video.status); i++) {
                await new Promise(r => setTimeout(r, 200));
                video = await client.videos.retrieve(video.id);
              }
              const content = await client.videos.downloadContent(video.id);
              const bytes = new Uint8Array(await content.arrayBuffer());
              let missing;
              try { await client.videos.retrieve('video_does_not_exist'); } catch (e) { missing = { name: e.constructor.name, status: e.status, requestId: e.requestID ?? null }; }
              return { status: video.status, seconds: video.seconds, size: video.size, bytes: bytes.length,
                       ftyp: String.fromCharCode(...bytes.slice(4, 8)), missing };
            }
            """, new[] { Server.BaseAddress.ToString().TrimEnd('/'), Server.AliceKey });

        outcome.GetProperty("status").GetString().Should().Be("completed");
        outcome.GetProperty("seconds").GetString().Should().Be("4");
        outcome.GetProperty("size").GetString().Should().Be("720x1280");
        outcome.GetProperty("bytes").GetInt32().Should().BeGreaterThan(1000);
        outcome.GetProperty("ftyp").GetString().Should().Be("ftyp");
        var missing = outcome.GetProperty("missing");
        missing.GetProperty("name").GetString().Should().Be("NotFoundError");
        missing.GetProperty("status").GetInt32().Should().Be(404);
        missing.GetProperty("requestId").GetString().Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task A_page_on_another_origin_cannot_read_any_answer()
    {
        await using var context = await fixture.Browser.NewContextAsync();
        var page = await OpenAsync(context, fixture.OtherOrigin);

        var outcome = await page.EvaluateAsync<string[]>("""
            async ([base, key]) => {
              const attempt = async (url, init) => { try { const r = await fetch(url, init); return 'read ' + r.status; } catch (e) { return e.name; } };
              return [
                await attempt(base + '/v1/tasks', { headers: { Authorization: 'Bearer ' + key } }),
                await attempt(base + '/v1/models'),
                await attempt(base + '/v1/videos/generations', { method: 'POST', headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
                  body: JSON.stringify({ model: 'kling-v3', prompt: 'never sent' }) }),
              ];
            }
            """, new[] { Server.BaseAddress.ToString().TrimEnd('/'), Server.BobKey });

        outcome.Should().Equal("TypeError", "TypeError", "TypeError");
        // The create's preflight was refused, so the create itself never reached the server.
        using var list = await Server.Bob.GetAsync("/v1/tasks");
        (await list.Content.ReadAsStringAsync()).Should().NotContain("never sent");
    }

    [Fact]
    public async Task A_preflight_is_answered_without_a_key_and_names_what_the_page_may_send_and_read()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/videos/generations");
        preflight.Headers.Add("Origin", "https://app.example.com");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization, content-type, idempotency-key, x-stainless-retry-count");

        using var answer = await Server.Anonymous.SendAsync(preflight);

        answer.StatusCode.Should().Be(HttpStatusCode.NoContent);
        answer.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("https://app.example.com");
        string.Join(",", answer.Headers.GetValues("Access-Control-Allow-Headers")).ToLowerInvariant()
            .Should().Contain("authorization").And.Contain("idempotency-key").And.Contain("x-stainless-retry-count");
        answer.Headers.GetValues("Access-Control-Allow-Methods").Should().Contain("POST");
        answer.Headers.GetValues("Access-Control-Max-Age").Should().Equal("600");
        answer.Headers.Contains("Access-Control-Allow-Credentials").Should().BeFalse();
    }

    [Fact]
    public async Task Answers_to_an_allowed_origin_expose_kinemas_headers_and_others_get_none()
    {
        using var allowed = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks/task_01M00000000000000000000000");
        allowed.Headers.Add("Origin", "https://app.example.com");
        using var other = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks");
        other.Headers.Add("Origin", "https://evil.example.net");
        using var none = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks");

        using var notFound = await Server.Alice.SendAsync(allowed);
        using var refused = await Server.Alice.SendAsync(other);
        using var plain = await Server.Alice.SendAsync(none);

        notFound.StatusCode.Should().Be(HttpStatusCode.NotFound);
        notFound.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("https://app.example.com");
        string.Join(",", notFound.Headers.GetValues("Access-Control-Expose-Headers")).Should()
            .Contain("X-Request-Id").And.Contain("Idempotency-Replayed").And.Contain("Retry-After").And.Contain("Content-Range");
        refused.StatusCode.Should().Be(HttpStatusCode.OK);
        refused.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
        plain.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
    }

    [Theory]
    [InlineData("app.example.com")]
    [InlineData("https://app.example.com/")]
    [InlineData("https://app.example.com/path")]
    [InlineData("ftp://app.example.com")]
    public async Task An_origin_that_is_not_an_origin_stops_start_up_naming_the_setting(string origin)
    {
        var start = () => KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Cors:AllowedOrigins:0"] = origin });

        var failure = (await start.Should().ThrowAsync<OptionsValidationException>()).Which;

        failure.Message.Should().Contain("Kinema:Cors:AllowedOrigins:0").And.Contain(origin);
    }

    [Fact]
    public async Task Without_the_setting_no_origin_is_allowed()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Scheduler:Enabled"] = "false" });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks");
        request.Headers.Add("Origin", fixture.AllowedOrigin);

        using var answer = await server.Alice.SendAsync(request);

        answer.StatusCode.Should().Be(HttpStatusCode.OK);
        answer.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
    }
}
