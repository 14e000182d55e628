using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CsCheck;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd.Fuzzing;

/// <summary>
/// Thousands of hostile bodies against the real server on loopback: valid bodies mutated field by field (types swapped,
/// control characters, lone surrogates, huge numbers, nesting, duplicate keys). Every answer must be a 200 or a 4xx
/// envelope naming the field; never a 5xx. Run on both store providers: what one stores without complaint the other may
/// refuse (PostgreSQL's text holds no U+0000). <c>KINEMA_PROPERTY_ITERATIONS</c> runs longer.
/// </summary>
public abstract class JsonEndpointPropertyTests(ITestOutputHelper output, string provider) : IAsyncLifetime
{
    private static readonly string Png = TestImages.DataUri(TestImages.Solid(32, 24, SKColors.Teal));
    private KinemaTestServer _server = null!;
    private string? _database;

    public async ValueTask InitializeAsync()
    {
        // No workers: a 200 creates a task, and rendering thousands of them would swamp the machine.
        var settings = new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:Upstream:CallbackBaseUrl"] = "http://127.0.0.1:9",
        };
        if (provider == "postgres")
        {
            _database = await TestPostgres.CreateDatabaseAsync();
            settings["Kinema:Store:Provider"] = "postgres";
            settings["ConnectionStrings:Kinema"] = _database;
        }

        _server = await KinemaTestServer.StartAsync(settings);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        if (_database is not null)
        {
            await TestPostgres.DropDatabaseAsync(_database);
        }
    }

    [Fact]
    public async Task Create_answers_every_mutated_body_with_200_or_a_4xx_naming_a_field()
    {
        var bodies = JsonMutations.Bodies(
            """{"model":"kling-v3","prompt":"a fox","mode":"std","duration":5,"aspect_ratio":"16:9","negative_prompt":"blur","audio":true,"watermark":false,"callback_url":"https://example.com/hook"}""",
            $$"""{"model":"kling-v3","prompt":"go","image_urls":["{{Png}}"],"last_frame_image":"https://example.com/last.jpg"}""",
            """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6,"multi_prompt":[{"index":1,"prompt":"one","duration":3},{"index":2,"prompt":"two","duration":3}]}""",
            $$"""{"model":"kling-v3","prompt":"@dog","elements":[{"name":"dog","description":"a dog","element_input_urls":["https://example.com/a.jpg","{{Png}}"]}]}""");

        await RunAsync(bodies, JsonMutations.Iterations(1500), body => PostAsync(_server.Alice, "/v1/videos/generations", body), requireParam: true);
    }

    [Fact]
    public async Task Webhook_create_answers_every_mutated_body_with_200_or_a_4xx_naming_a_field()
    {
        var bodies = JsonMutations.Bodies(
            """{"url":"https://example.com/hooks","events":["task.completed","task.failed"]}""",
            """{"url":"https://example.com/hooks"}""");

        // Each endpoint made is removed again, so the tenant never reaches its cap of endpoints (which has a test of its own).
        await RunAsync(bodies, JsonMutations.Iterations(1500) / 3, async body =>
        {
            var answer = await PostAsync(_server.Bob, "/v1/webhooks", body);
            if (answer.Status == 200)
            {
                var id = JsonDocument.Parse(answer.Text).RootElement.GetProperty("id").GetString();
                using var removed = await _server.Bob.DeleteAsync($"/v1/webhooks/{id}");
                removed.StatusCode.Should().Be(System.Net.HttpStatusCode.NoContent);
            }

            return answer;
        }, requireParam: true);
    }

    [Fact]
    public async Task OpenAi_video_create_and_remix_answer_every_mutated_body_with_200_or_a_4xx()
    {
        var creates = JsonMutations.Bodies(
            """{"model":"kling-v3","prompt":"a fox","seconds":"5","size":"1280x720"}""",
            $$"""{"model":"kling-v3","prompt":"go","seconds":"8","size":"1080x1920","image_url":"{{Png}}"}""");
        var video = await PostAsync(_server.Alice, "/v1/videos", """{"model":"kling-v3","prompt":"to remix","seconds":"5"}""");
        video.Status.Should().Be(200, video.Text);
        var remixPath = $"/v1/videos/{JsonDocument.Parse(video.Text).RootElement.GetProperty("id").GetString()}/remix";
        var remixes = JsonMutations.Bodies("""{"prompt":"the same, at night"}""");

        await RunAsync(creates, JsonMutations.Iterations(1500) / 3, body => PostAsync(_server.Alice, "/v1/videos", body), requireParam: true);
        await RunAsync(remixes, JsonMutations.Iterations(1500) / 5, body => PostAsync(_server.Alice, remixPath, body), requireParam: false);
    }

    [Fact]
    public async Task Admin_bodies_answer_every_mutation_with_200_or_a_4xx_naming_a_field()
    {
        var keys = (Kinema.Core.Tenants.IApiKeyStore)_server.Services.GetService(typeof(Kinema.Core.Tenants.IApiKeyStore))!;
        using var admin = _server.ClientFor((await keys.CreateAsync(new Kinema.Core.Tenants.NewApiKey("ops", IsAdmin: true), CancellationToken.None)).Key);
        var tenants = JsonMutations.Bodies("""{"id":"fuzz-tenant","max_in_flight":3}""");
        var credits = JsonMutations.Bodies("""{"amount":40,"note":"a grant"}""");
        var newKeys = JsonMutations.Bodies("""{"name":"fuzz-key","tenant":"fuzz-tenant","admin":false,"rpm":60}""");

        await RunAsync(tenants, JsonMutations.Iterations(1500) / 5, body => PostAsync(admin, "/v1/admin/tenants", body), requireParam: true);
        await RunAsync(credits, JsonMutations.Iterations(1500) / 5, body => PostAsync(admin, "/v1/admin/tenants/fuzz-tenant/credits", body), requireParam: true);
        await RunAsync(newKeys, JsonMutations.Iterations(1500) / 5, body => PostAsync(admin, "/v1/admin/keys", body), requireParam: true);
    }

    [Fact]
    public async Task Upstream_callback_never_answers_5xx_whatever_the_body()
    {
        var id = await _server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"called back"}""");
        var callbacks = (Kinema.Core.Upstream.CallbackUrls)_server.Services.GetService(typeof(Kinema.Core.Upstream.CallbackUrls))!;
        var signed = callbacks.For("kling", id)!.PathAndQuery;
        var bodies = JsonMutations.Bodies("""{"task_id":"x","task_status":"succeed","task_result":{"videos":[{"url":"https://example.com/v.mp4"}]}}""");

        // The body is never trusted (the callback only makes the next poll due), so a valid token answers 200 and a
        // forged one 403 — neither ever a 5xx.
        await RunAsync(Gen.Select(bodies, Gen.Bool), JsonMutations.Iterations(1500) / 5,
            pair => PostAsync(_server.Anonymous, pair.Item2 ? signed : $"/callbacks/kling/{id}?token=forged", pair.Item1),
            requireParam: false);
    }

    [Fact]
    public async Task Query_strings_and_path_segments_with_hostile_characters_never_answer_5xx()
    {
        var keys = (Kinema.Core.Tenants.IApiKeyStore)_server.Services.GetService(typeof(Kinema.Core.Tenants.IApiKeyStore))!;
        using var admin = _server.ClientFor((await keys.CreateAsync(new Kinema.Core.Tenants.NewApiKey("ops", IsAdmin: true), CancellationToken.None)).Key);

        // %2500 reaches a handler as the text "%00", which one that decodes its segment again turns into a NUL; a raw %00
        // in a path Kestrel refuses itself, before any route.
        string[] queryValues = ["%00", "a%00b", "%0A", "%ED%A0%80", "%FF", "%C0%AF", "%25", "-1", "9999999999999999999999", new string('x', 3000)];
        string[] segments = ["%2500", "a%2500b", "%25ED%25A0%2580", "%25FF", "%2F..%2F", "%20", new string('x', 3000)];
        string[] queries =
        [
            "/v1/tasks?model={0}", "/v1/tasks?status={0}", "/v1/tasks?after={0}", "/v1/tasks?limit={0}", "/v1/tasks?created_after={0}",
            "/v1/videos?after={0}", "/v1/videos?order={0}", "/v1/videos?limit={0}", "/v1/usage?after={0}", "/v1/usage?limit={0}",
            "/v1/webhooks/deliveries?limit={0}", "/v1/model-schema?model={0}", "/v1/model-schema?model=kling-v3&operation={0}",
            "/files/task/video.mp4?expires={0}&signature=x", "/files/task/video.mp4?expires=1&signature={0}",
        ];
        string[] paths =
        [
            "GET /v1/tasks/{0}", "GET /v1/tasks/{0}/events", "POST /v1/tasks/{0}/cancel", "DELETE /v1/tasks/{0}",
            "GET /v1/videos/{0}", "GET /v1/videos/{0}/content", "DELETE /v1/videos/{0}", "POST /v1/videos/{0}/remix",
            "DELETE /v1/webhooks/{0}", "POST /v1/webhooks/deliveries/{0}/replay", "POST /v1/admin/tenants/{0}/credits",
            "DELETE /v1/admin/keys/{0}", "GET /files/{0}/video.mp4", "GET /files/task/{0}",
        ];
        var calls = queries.SelectMany(query => queryValues.Select(value => ("GET", string.Format(CultureInfo.InvariantCulture, query, value))))
            .Concat(paths.SelectMany(route => segments.Select(segment =>
            {
                var (method, template) = (route[..route.IndexOf(' ', StringComparison.Ordinal)], route[(route.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
                return (method, string.Format(CultureInfo.InvariantCulture, template, segment));
            })));

        var answered = 0;
        foreach (var (method, path) in calls)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method == "POST")
            {
                request.Content = new StringContent(path.Contains("/credits", StringComparison.Ordinal) ? """{"amount":1}""" : """{"prompt":"again"}""",
                    Encoding.UTF8, "application/json");
            }

            using var response = await admin.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var status = (int)response.StatusCode;
            var text = status == 200 && response.Content.Headers.ContentType?.MediaType == "text/event-stream" ? "" : await response.Content.ReadAsStringAsync();
            status.Should().BeLessThan(500, "{0} {1} is the client's mistake: {2}", method, path, text);
            if (status >= 400 && text.Length > 0)
            {
                JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetInt32().Should().Be(status, "{0} {1}: {2}", method, path, text);
            }

            answered++;
        }

        answered.Should().Be(queries.Length * queryValues.Length + paths.Length * segments.Length);
    }

    private async Task RunAsync<T>(Gen<T> gen, long iterations, Func<T, Task<(int Status, string Text)>> call, bool requireParam)
    {
        var clock = Stopwatch.StartNew();
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await gen.SampleAsync(async input =>
        {
            var (status, text) = await call(input);
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            status.Should().BeLessThan(500, "a hostile body is the client's mistake, never the server's: {0}", text);
            if (status == 200)
            {
                return;
            }

            status.Should().BeInRange(400, 499, text);
            using var document = JsonDocument.Parse(text);
            var error = document.RootElement.GetProperty("error");
            error.GetProperty("code").GetInt32().Should().Be(status, text);
            error.GetProperty("message").GetString().Should().NotBeNullOrWhiteSpace(text);
            if (requireParam)
            {
                error.TryGetProperty("param", out var param).Should().BeTrue("the answer must name the field: {0}", text);
                param.GetString().Should().NotBeNullOrEmpty(text);
            }
        }, iter: iterations, threads: 2, print: input => input?.ToString() ?? "");
        output.WriteLine($"{iterations} bodies in {clock.Elapsed.TotalSeconds:0.0} s; statuses: {string.Join(", ", statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}×{p.Value}"))}");
    }

    private static async Task<(int Status, string Text)> PostAsync(HttpClient client, string path, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(path, content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

public sealed class SqliteJsonEndpointPropertyTests(ITestOutputHelper output) : JsonEndpointPropertyTests(output, "sqlite");

public sealed class PostgresJsonEndpointPropertyTests(ITestOutputHelper output) : JsonEndpointPropertyTests(output, "postgres");
