using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd;

/// <summary>
/// Request bodies sent with <c>Content-Encoding</c> gzip, br or deflate are read decompressed on every body-reading route;
/// other codings, broken streams and bodies that grow past the size limit once decompressed are 4xx answers by name.
/// </summary>
public sealed class CompressedRequestTests : IAsyncLifetime
{
    private const int MaxBodyBytes = 256 * 1024;

    private KinemaTestServer _server = null!;

    public async ValueTask InitializeAsync() =>
        _server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:MaxRequestBodyBytes"] = MaxBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Codings => new() { "gzip", "br", "deflate" };

    private static byte[] Compress(string coding, byte[] body)
    {
        using var output = new MemoryStream();
        using (Stream compressor = coding switch
               {
                   "gzip" => new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true),
                   "br" => new BrotliStream(output, CompressionLevel.Optimal, leaveOpen: true),
                   "deflate" => new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true),
                   _ => throw new ArgumentOutOfRangeException(nameof(coding)),
               })
        {
            compressor.Write(body);
        }

        return output.ToArray();
    }

    private static ByteArrayContent Encoded(byte[] bytes, string coding, string contentType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        content.Headers.ContentEncoding.Add(coding);
        return content;
    }

    private static async Task<JsonElement> ErrorOfAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(expected, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("error").Clone();
    }

    [Theory]
    [MemberData(nameof(Codings))]
    public async Task A_compressed_json_create_is_accepted_and_stored_as_sent(string coding)
    {
        var prompt = $"a lighthouse at dusk, sent as {coding}";
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { model = "kling-v3", prompt, duration = 3, aspect_ratio = "9:16" }));

        using var response = await _server.Alice.PostAsync("/v1/videos/generations", Encoded(Compress(coding, body), coding, "application/json"));
        var text = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.OK, text);
        var taskId = JsonDocument.Parse(text).RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!;
        var store = (Kinema.Core.Tasks.ITaskStore)_server.Services.GetService(typeof(Kinema.Core.Tasks.ITaskStore))!;
        var stored = await store.GetAsync("alice", taskId, CancellationToken.None);
        stored!.Request.Prompt.Should().Be(prompt);
        stored.Request.Duration.Should().Be(3);
        stored.Request.AspectRatio.Should().Be("9:16");
    }

    [Fact]
    public async Task An_openai_multipart_create_and_an_image_upload_can_be_compressed()
    {
        using var form = new MultipartFormDataContent("kinema-boundary")
        {
            { new StringContent("sora-like prompt, brotli"), "prompt" },
            { new StringContent("kling-v3"), "model" },
            { new StringContent("4"), "seconds" },
        };
        var formBytes = await form.ReadAsByteArrayAsync();
        var png = TestImages.Solid(48, 32, SKColors.Purple);
        using var upload = new MultipartFormDataContent("kinema-upload");
        var file = new ByteArrayContent(png);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        upload.Add(file, "file", "frame.png");
        var uploadBytes = await upload.ReadAsByteArrayAsync();

        using var video = await _server.Alice.PostAsync("/v1/videos",
            Encoded(Compress("br", formBytes), "br", "multipart/form-data; boundary=kinema-boundary"));
        using var image = await _server.Alice.PostAsync("/v1/uploads/images",
            Encoded(Compress("gzip", uploadBytes), "gzip", "multipart/form-data; boundary=kinema-upload"));

        var videoText = await video.Content.ReadAsStringAsync();
        video.StatusCode.Should().Be(HttpStatusCode.OK, videoText);
        var created = JsonDocument.Parse(videoText).RootElement;
        created.GetProperty("prompt").GetString().Should().Be("sora-like prompt, brotli");
        created.GetProperty("seconds").GetString().Should().Be("4");
        var imageText = await image.Content.ReadAsStringAsync();
        image.StatusCode.Should().Be(HttpStatusCode.OK, imageText);
        var uploaded = JsonDocument.Parse(imageText).RootElement;
        uploaded.GetProperty("bytes").GetInt64().Should().Be(png.Length);
        using var served = await new HttpClient().GetAsync(uploaded.GetProperty("url").GetString());
        (await served.Content.ReadAsByteArrayAsync()).Should().Equal(png);
    }

    [Theory]
    [InlineData("zstd", "Content-Encoding zstd is not supported")]
    [InlineData("compress", "Content-Encoding compress is not supported")]
    [InlineData("gzip, br", "may have one Content-Encoding")]
    public async Task Other_codings_are_refused_with_a_415_naming_the_header(string header, string message)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations")
        {
            Content = new StringContent("""{"model":"kling-v3","prompt":"x"}""", Encoding.UTF8, "application/json"),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Encoding", header);

        using var response = await _server.Alice.SendAsync(request);

        var error = await ErrorOfAsync(response, HttpStatusCode.UnsupportedMediaType);
        error.GetProperty("param").GetString().Should().Be("Content-Encoding");
        error.GetProperty("message").GetString().Should().Contain(message).And.Contain("gzip, br, deflate");
    }

    [Fact]
    public async Task Identity_is_the_body_as_is()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations")
        {
            Content = new StringContent("""{"model":"kling-v3","prompt":"identity"}""", Encoding.UTF8, "application/json"),
        };
        request.Content.Headers.ContentEncoding.Add("identity");

        using var response = await _server.Alice.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    public static TheoryData<string, string, string> BrokenBodies => new()
    {
        { "gzip", "/v1/videos/generations", "application/json" },
        { "br", "/v1/videos/generations", "application/json" },
        { "deflate", "/v1/videos/generations", "application/json" },
        { "br", "/v1/videos", "application/json" },
        { "gzip", "/v1/videos", "multipart/form-data; boundary=b" },
        { "br", "/v1/uploads/images", "multipart/form-data; boundary=b" },
        { "gzip", "/v1/webhooks", "application/json" },
    };

    [Theory]
    [MemberData(nameof(BrokenBodies))]
    public async Task A_body_that_does_not_decompress_is_a_400_naming_the_coding(string coding, string path, string contentType)
    {
        // A stream damaged after its first bytes (gzip and zlib also check their headers; brotli has none to check).
        var body = Encoding.UTF8.GetBytes("--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n{\"model\":\"kling-v3\",\"prompt\":\""
                                          + string.Join(' ', Enumerable.Range(0, 400)) + "\"}\r\n--b--\r\n");
        var damaged = Compress(coding, body);
        for (var i = 3; i < damaged.Length; i++)
        {
            damaged[i] ^= 0x5A;
        }

        using var response = await _server.Alice.PostAsync(path, Encoded(damaged, coding, contentType));

        var error = await ErrorOfAsync(response, HttpStatusCode.BadRequest);
        error.GetProperty("param").GetString().Should().Be("Content-Encoding");
        error.GetProperty("message").GetString().Should().StartWith($"the request body is not valid {coding} data");
    }

    [Theory]
    [MemberData(nameof(Codings))]
    public async Task A_small_body_that_decompresses_past_the_limit_is_a_413(string coding)
    {
        // 4 MiB of one repeated JSON string: a few KiB on the wire, 16 times the server's body limit once read.
        var huge = Encoding.UTF8.GetBytes("{\"model\":\"kling-v3\",\"prompt\":\"" + new string('a', 4 * 1024 * 1024) + "\"}");
        var compressed = Compress(coding, huge);
        compressed.Length.Should().BeLessThan(MaxBodyBytes / 4);

        using var response = await _server.Alice.PostAsync("/v1/videos/generations", Encoded(compressed, coding, "application/json"));

        var error = await ErrorOfAsync(response, HttpStatusCode.RequestEntityTooLarge);
        error.GetProperty("message").GetString().Should().Contain("larger than this server accepts");
        var after = await _server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"still serving"}""");
        after.Should().StartWith("task_");
    }
}
