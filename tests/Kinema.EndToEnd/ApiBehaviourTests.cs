using System.Net;
using System.Net.Http.Headers;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd;

/// <summary>Authentication, tenancy, errors and result delivery through real HTTP.</summary>
public sealed class ApiBehaviourTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    [Fact]
    public async Task Health_answers_200_without_a_key()
    {
        using var response = await Server.Anonymous.GetAsync("/healthz");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer")]
    [InlineData("Bearer kin_not_a_real_key")]
    [InlineData("Basic YWxpY2U6c2VjcmV0")]
    public async Task Missing_or_wrong_key_answers_401_in_the_error_envelope(string? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks/task_01K8SGYNNNVBQTXNR4MM964S7K");
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using var response = await Server.Anonymous.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ToString().Should().Contain("Bearer");
        body.Should().Contain("\"type\":\"authentication_error\"").And.Contain("\"code\":401");
    }

    [Fact]
    public async Task Another_tenants_task_is_404_never_403()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"alice's secret","duration":3}""");

        using var response = await Server.Bob.GetAsync($"/v1/tasks/{id}");
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        body.Should().Contain("invalid_request_error").And.NotContain("alice's secret");
        (await Server.Alice.GetTaskAsync(id)).GetProperty("id").GetString().Should().Be(id);
    }

    [Fact]
    public async Task Unknown_task_and_unknown_route_answer_404_envelopes()
    {
        using var task = await Server.Alice.GetAsync("/v1/tasks/task_01K8SGYNNNVBQTXNR4MM964S7K");
        using var route = await Server.Alice.GetAsync("/v1/nothing-here");

        task.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await task.Content.ReadAsStringAsync()).Should().Contain("\"param\":\"task_id\"");
        route.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await route.Content.ReadAsStringAsync()).Should().Contain("\"error\"");
    }

    [Theory]
    [InlineData("GET", "/v1/videos/generations")]
    [InlineData("DELETE", "/v1/videos/generations")]
    [InlineData("PUT", "/v1/videos/generations")]
    [InlineData("POST", "/v1/tasks")]
    public async Task A_method_a_route_does_not_take_answers_405_naming_it_with_allow(string method, string path)
    {
        // GET and DELETE of the create route would otherwise reach OpenAI's /v1/videos/{video_id} and hear that no
        // video "generations" exists.
        using var response = await Server.Alice.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        var text = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed, text);
        response.Content.Headers.Allow.Should().NotBeEmpty().And.NotContain(method);
        var error = System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetInt32().Should().Be(405);
        error.GetProperty("message").GetString().Should().Be($"{method} is not allowed on {path}");
    }

    [Theory]
    [InlineData("{\"model\":\"kling-v3\",\"prompt\":", "not valid JSON")]
    [InlineData("[1,2,3]", "JSON object")]
    [InlineData("\"just a string\"", "JSON object")]
    [InlineData("", "not valid JSON")]
    public async Task Malformed_bodies_answer_400(string body, string fragment)
    {
        var error = await Server.Alice.PostErrorAsync(body, 400);

        error.GetProperty("type").GetString().Should().Be("invalid_request_error");
        error.GetProperty("message").GetString().Should().Contain(fragment);
    }

    [Fact]
    public async Task Duration_given_as_a_string_answers_400_naming_the_field()
    {
        var error = await Server.Alice.PostErrorAsync("""{"model":"kling-v3","prompt":"x","duration":"6"}""", 400);

        error.GetProperty("param").GetString().Should().Be("duration");
        error.GetProperty("message").GetString().Should().Contain("duration");
    }

    [Fact]
    public async Task Several_broken_rules_are_reported_together()
    {
        var error = await Server.Alice.PostErrorAsync("""{"model":"kling-v3","prompt":"x","duration":40,"mode":"8k","aspect_ratio":"4:3"}""", 400);

        var parameters = error.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("param").GetString()).ToList();
        parameters.Should().Contain(["duration", "mode", "aspect_ratio"]);
    }

    [Fact]
    public async Task Non_json_content_type_answers_415()
    {
        var error = await Server.Alice.PostErrorAsync("model=kling-v3", 415, "application/x-www-form-urlencoded");

        error.GetProperty("message").GetString().Should().Contain("JSON");
    }

    [Fact]
    public async Task Body_over_the_limit_answers_413_in_the_envelope()
    {
        var huge = "{\"model\":\"kling-v3\",\"prompt\":\"" + new string('a', 33 * 1024 * 1024) + "\"}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations")
        {
            Content = new StringContent(huge, System.Text.Encoding.UTF8, "application/json"),
        };
        // As curl does for large bodies: the server can refuse before the body is sent.
        request.Headers.ExpectContinue = true;

        using var response = await Server.Alice.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge, body);
        body.Should().Contain("\"code\":413").And.Contain("invalid_request_error");
    }

    [Fact]
    public async Task Unknown_fields_are_ignored()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"x","duration":3,"seed":42,"extra":{"a":[1]}}""");

        id.Should().StartWith("task_");
    }

    [Fact]
    public async Task Task_is_pending_or_processing_right_after_create()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"fresh","duration":3}""");

        var task = await Server.Alice.GetTaskAsync(id);

        task.GetProperty("status").GetString().Should().BeOneOf("pending", "processing", "completed");
        task.GetProperty("estimated_time").ValueKind.Should().Be(System.Text.Json.JsonValueKind.Number);
    }

    [Fact]
    public async Task Idempotency_key_returns_the_first_task_and_refuses_a_different_body()
    {
        var key = Guid.NewGuid().ToString();
        var first = await CreateWithKeyAsync(key, """{"model":"kling-v3","prompt":"once","duration":3}""");
        var again = await CreateWithKeyAsync(key, """{"model":"kling-v3","prompt":"once","duration":3}""");
        var clash = await CreateWithKeyAsync(key, """{"model":"kling-v3","prompt":"twice","duration":3}""");

        first.Status.Should().Be(HttpStatusCode.OK);
        again.Body.Should().Be(first.Body);
        clash.Status.Should().Be(HttpStatusCode.Conflict);
        clash.Body.Should().Contain("Idempotency-Key");
    }

    [Fact]
    public async Task Two_idempotency_key_headers_are_refused_rather_than_read_as_one_joined_key()
    {
        // HttpClient joins the values of one header into one line; a proxy or a hand-written client may send two lines.
        var body = """{"model":"kling-v3","prompt":"two keys","duration":3}"""u8.ToArray();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(Server.BaseAddress.Host, Server.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        var head = $"POST /v1/videos/generations HTTP/1.1\r\nHost: {Server.BaseAddress.Authority}\r\nAuthorization: Bearer {Server.AliceKey}\r\n"
                   + $"Content-Type: application/json\r\nIdempotency-Key: first\r\nIdempotency-Key: second\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(body);
        var answer = await new StreamReader(stream).ReadToEndAsync();

        answer.Should().StartWith("HTTP/1.1 400");
        var json = answer[answer.IndexOf('{', StringComparison.Ordinal)..answer.LastIndexOf('}')] + "}";
        var error = System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("error");
        error.GetProperty("param").GetString().Should().Be("Idempotency-Key");
        error.GetProperty("message").GetString().Should().Be("send one Idempotency-Key header, not 2");
        var single = await CreateWithKeyAsync("first, second", """{"model":"kling-v3","prompt":"one key with a comma","duration":3}""");
        single.Status.Should().Be(HttpStatusCode.OK, "one header whose value holds a comma is one key");
    }

    [Fact]
    public async Task Result_supports_range_requests_and_refuses_tampered_links()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"range","duration":3}""");
        var task = await Server.Alice.WaitForTerminalAsync(id);
        var url = task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!;
        using var client = new HttpClient();

        using var full = await client.GetAsync(url);
        var length = full.Content.Headers.ContentLength!.Value;
        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, url);
        rangeRequest.Headers.Range = new RangeHeaderValue(100, 199);
        using var partial = await client.SendAsync(rangeRequest);
        using var tampered = await client.GetAsync(url.Replace("signature=", "signature=x", StringComparison.Ordinal));
        using var otherFile = await client.GetAsync(url.Replace("video.mp4", "poster.jpg", StringComparison.Ordinal));

        full.Content.Headers.ContentType!.MediaType.Should().Be("video/mp4");
        full.Headers.AcceptRanges.Should().Contain("bytes");
        partial.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        partial.Content.Headers.ContentRange!.ToString().Should().Be($"bytes 100-199/{length}");
        (await partial.Content.ReadAsByteArrayAsync()).Should().Equal((await full.Content.ReadAsByteArrayAsync())[100..200]);
        tampered.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        otherFile.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        var poster = task.GetProperty("result").GetProperty("videos")[0].GetProperty("thumbnail_url").GetString()!;
        using var posterResponse = await client.GetAsync(poster);
        posterResponse.Content.Headers.ContentType!.MediaType.Should().Be("image/jpeg");
    }

    private async Task<(HttpStatusCode Status, string Body)> CreateWithKeyAsync(string key, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await Server.Alice.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
