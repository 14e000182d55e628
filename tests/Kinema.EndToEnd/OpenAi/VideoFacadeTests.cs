using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.OpenAi;

/// <summary>
/// <c>/v1/videos</c> over plain HTTP, on a node that runs no tasks, so videos stay queued: what the SDK tests cannot
/// pin down in time (JSON bodies, idempotency, content before completion, deleting a video that has not run).
/// </summary>
public sealed class VideoFacadeTests : IAsyncLifetime
{
    private KinemaTestServer _server = null!;

    public async ValueTask InitializeAsync() =>
        _server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Scheduler:Enabled"] = "false" });

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpRequestMessage request)
    {
        var response = await _server.Alice.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text.Length == 0 ? "{}" : text);
        return (response.StatusCode, document.RootElement.Clone(), response);
    }

    private static HttpRequestMessage Json(HttpMethod method, string path, string body) =>
        new(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    [Fact]
    public async Task A_json_create_is_a_queued_video_and_a_task_of_the_contract()
    {
        var (status, video, _) = await SendAsync(Json(HttpMethod.Post, "/v1/videos",
            """{"prompt":"json body","seconds":"6","size":"1080x1920"}"""));

        status.Should().Be(HttpStatusCode.OK, video.ToString());
        video.GetProperty("status").GetString().Should().Be("queued");
        video.GetProperty("progress").GetInt32().Should().Be(0);
        video.GetProperty("completed_at").ValueKind.Should().Be(JsonValueKind.Null);
        var id = video.GetProperty("id").GetString()!;

        var task = await _server.Alice.GetTaskAsync(id);
        task.GetProperty("status").GetString().Should().Be("pending");
        task.GetProperty("model").GetString().Should().Be("kling-v3");
        using var tasks = JsonDocument.Parse(await _server.Alice.GetStringAsync("/v1/tasks?status=pending"));
        tasks.RootElement.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()).Should().Contain(id);
    }

    [Fact]
    public async Task Defaults_are_kling_v3_the_contracts_duration_and_1280x720()
    {
        using var form = new MultipartFormDataContent { { new StringContent("defaults"), "prompt" } };
        var (status, video, _) = await SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/videos") { Content = form });

        status.Should().Be(HttpStatusCode.OK, video.ToString());
        video.GetProperty("model").GetString().Should().Be("kling-v3");
        video.GetProperty("seconds").GetString().Should().Be("5");
        video.GetProperty("size").GetString().Should().Be("1280x720");
    }

    [Fact]
    public async Task The_same_idempotency_key_and_body_name_the_same_video()
    {
        HttpRequestMessage Create()
        {
            var request = Json(HttpMethod.Post, "/v1/videos", """{"prompt":"once","seconds":"3"}""");
            request.Headers.Add("Idempotency-Key", "video-once");
            return request;
        }

        var first = await SendAsync(Create());
        var second = await SendAsync(Create());

        second.Body.GetProperty("id").GetString().Should().Be(first.Body.GetProperty("id").GetString());
        second.Response.Headers.GetValues("Idempotent-Replayed").Should().Equal("true");
    }

    [Fact]
    public async Task Content_of_a_video_not_yet_made_is_a_conflict_and_a_bad_variant_is_named()
    {
        var (_, video, _) = await SendAsync(Json(HttpMethod.Post, "/v1/videos", """{"prompt":"later","seconds":"3"}"""));
        var id = video.GetProperty("id").GetString();

        var early = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{id}/content"));
        early.Status.Should().Be(HttpStatusCode.Conflict);
        early.Body.GetProperty("error").GetProperty("message").GetString().Should().Contain("queued");

        var variant = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{id}/content?variant=gif"));
        variant.Status.Should().Be(HttpStatusCode.BadRequest);
        variant.Body.GetProperty("error").GetProperty("param").GetString().Should().Be("variant");
    }

    [Fact]
    public async Task Deleting_a_video_that_has_not_run_cancels_it_and_removes_it()
    {
        var (_, video, _) = await SendAsync(Json(HttpMethod.Post, "/v1/videos", """{"prompt":"never made","seconds":"3"}"""));
        var id = video.GetProperty("id").GetString();

        var deleted = await SendAsync(new HttpRequestMessage(HttpMethod.Delete, $"/v1/videos/{id}"));

        deleted.Status.Should().Be(HttpStatusCode.OK, deleted.Body.ToString());
        deleted.Body.GetProperty("deleted").GetBoolean().Should().BeTrue();
        (await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{id}"))).Status.Should().Be(HttpStatusCode.NotFound);
        (await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{id}"))).Status.Should().Be(HttpStatusCode.NotFound);
        (await SendAsync(new HttpRequestMessage(HttpMethod.Delete, $"/v1/videos/{id}"))).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_video_cancelled_through_the_task_api_is_a_failed_video_with_the_code_cancelled()
    {
        var (_, video, _) = await SendAsync(Json(HttpMethod.Post, "/v1/videos", """{"prompt":"stop me","seconds":"3"}"""));
        var id = video.GetProperty("id").GetString();
        using var cancel = await _server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        cancel.StatusCode.Should().Be(HttpStatusCode.OK);

        var (_, cancelled, _) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{id}"));

        cancelled.GetProperty("status").GetString().Should().Be("failed");
        cancelled.GetProperty("error").GetProperty("code").GetString().Should().Be("cancelled");
        cancelled.GetProperty("completed_at").GetInt64().Should().BePositive();
    }

    [Fact]
    public async Task A_contract_task_reads_as_a_video_with_its_size_from_mode_and_aspect_ratio()
    {
        var id = await _server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"contract","mode":"4k","duration":7,"aspect_ratio":"1:1"}""");

        var (status, video, _) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{id}"));

        status.Should().Be(HttpStatusCode.OK);
        video.GetProperty("size").GetString().Should().Be("2160x2160");
        video.GetProperty("seconds").GetString().Should().Be("7");
    }

    [Fact]
    public async Task Unsupported_input_reference_file_id_and_an_unreadable_body_are_400s()
    {
        var fileId = await SendAsync(Json(HttpMethod.Post, "/v1/videos", """{"prompt":"p","input_reference":{"file_id":"file_123"}}"""));
        fileId.Status.Should().Be(HttpStatusCode.BadRequest);
        fileId.Body.GetProperty("error").GetProperty("param").GetString().Should().Be("input_reference");

        var text = new HttpRequestMessage(HttpMethod.Post, "/v1/videos") { Content = new StringContent("prompt=p", Encoding.UTF8) };
        text.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        (await SendAsync(text)).Status.Should().Be(HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [InlineData("""{"prompt":5}""", "prompt", "prompt must be a JSON string, not a number")]
    [InlineData("""{"prompt":"p","size":["1280x720"]}""", "size", "size must be a JSON string, not an array")]
    [InlineData("""{"prompt":"p","input_reference":{"image_url":true}}""", "input_reference.image_url", "input_reference.image_url must be a JSON string, not a boolean")]
    public async Task A_field_of_the_wrong_json_type_is_one_400_naming_it_and_the_type_sent(string body, string param, string message)
    {
        var (status, answer, _) = await SendAsync(Json(HttpMethod.Post, "/v1/videos", body));

        status.Should().Be(HttpStatusCode.BadRequest);
        var error = answer.GetProperty("error");
        error.GetProperty("param").GetString().Should().Be(param);
        error.GetProperty("message").GetString().Should().Be(message);
        error.TryGetProperty("errors", out _).Should().BeFalse("one wrong field is one violation, not also a missing one");
    }

    [Theory]
    [InlineData("prompt", "")]
    [InlineData("input_reference", "; filename=\"a.png\"")]
    public async Task A_multipart_create_that_ends_inside_a_part_is_a_400_and_makes_no_video(string field, string fileName)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos")
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes($"--xyz\r\nContent-Disposition: form-data; name=\"{field}\"{fileName}\r\n\r\nabc")),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");

        var (status, body, _) = await SendAsync(request);

        status.Should().Be(HttpStatusCode.BadRequest);
        body.GetProperty("error").GetProperty("message").GetString().Should().Contain("no closing boundary");
        var (_, list, _) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/videos"));
        list.GetProperty("data").GetArrayLength().Should().Be(0);
    }
}
