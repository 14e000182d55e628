using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd.Discovery;

/// <summary>A server as production runs it: loopback and private image URLs refused.</summary>
public sealed class StrictServerFixture : IAsyncLifetime
{
    internal KinemaTestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Fetch:AllowPrivateNetworks"] = "false" });

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// <c>POST /v1/uploads/images</c> on a server that refuses loopback images: its own upload links pass (they are read from
/// storage, never fetched), while a tampered link, another tenant's link and any other loopback URL are still refused.
/// </summary>
public sealed class ImageUploadTests(StrictServerFixture fixture) : IClassFixture<StrictServerFixture>
{
    private static readonly byte[] Gif = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

    private KinemaTestServer Server => fixture.Server;

    private static async Task<HttpResponseMessage> UploadAsync(HttpClient client, byte[] bytes, string declaredType = "image/png",
        string fileName = "frame.png", string field = "file")
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(declaredType);
        form.Add(file, field, fileName);
        return await client.PostAsync("/v1/uploads/images", form);
    }

    private static async Task<JsonElement> UploadOkAsync(HttpClient client, byte[] bytes, string declaredType = "image/png", string fileName = "frame.png")
    {
        using var response = await UploadAsync(client, bytes, declaredType, fileName);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task An_upload_answers_with_a_signed_url_that_serves_the_image_for_72_hours()
    {
        var png = TestImages.Solid(64, 36, SKColors.Orange);

        var upload = await UploadOkAsync(Server.Alice, png);

        var url = upload.GetProperty("url").GetString()!;
        url.Should().StartWith(Server.BaseAddress.ToString().TrimEnd('/') + "/files/upl_").And.Contain("signature=");
        upload.GetProperty("filename").GetString().Should().Be("frame.png");
        upload.GetProperty("content_type").GetString().Should().Be("image/png");
        upload.GetProperty("bytes").GetInt64().Should().Be(png.Length);
        upload.GetProperty("created_at").GetInt64().Should().BeCloseTo(DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 60);
        (upload.GetProperty("expires_at").GetInt64() - upload.GetProperty("created_at").GetInt64()).Should().BeCloseTo(72 * 3600, 60);
        using var anonymous = new HttpClient();
        using var served = await anonymous.GetAsync(url);
        served.StatusCode.Should().Be(HttpStatusCode.OK);
        served.Content.Headers.ContentType!.MediaType.Should().Be("image/png");
        (await served.Content.ReadAsByteArrayAsync()).Should().Equal(png);
    }

    [Fact]
    public async Task The_format_is_judged_by_the_bytes_not_the_declared_type()
    {
        var jpeg = TestImages.Solid(32, 32, SKColors.Blue, SKEncodedImageFormat.Jpeg);

        var upload = await UploadOkAsync(Server.Alice, jpeg, declaredType: "application/octet-stream", fileName: "photo.bin");
        using var text = await UploadAsync(Server.Alice, "not an image at all"u8.ToArray(), declaredType: "image/png");
        using var brokenGif = await UploadAsync(Server.Alice, Gif[..20], declaredType: "image/gif");
        using var truncated = await UploadAsync(Server.Alice, jpeg[..(jpeg.Length / 2)], declaredType: "image/jpeg");

        upload.GetProperty("content_type").GetString().Should().Be("image/jpeg");
        upload.GetProperty("url").GetString().Should().Contain("/image.jpg?");
        foreach (var refused in new[] { text, brokenGif, truncated })
        {
            var body = await refused.Content.ReadAsStringAsync();
            refused.StatusCode.Should().Be(HttpStatusCode.BadRequest, body);
            JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString().Should().Be("file");
        }
    }

    [Fact]
    public async Task A_gif_is_kept_as_a_png_of_its_first_frame_and_works_as_a_first_frame()
    {
        var upload = await UploadOkAsync(Server.Alice, Gif, declaredType: "image/gif", fileName: "pixel.gif");
        var url = upload.GetProperty("url").GetString()!;
        using var anonymous = new HttpClient();
        var stored = await anonymous.GetByteArrayAsync(url);
        var id = await Server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"from a gif","duration":3,"image_urls":["{{url}}"]}""");
        var task = await Server.Alice.WaitForTerminalAsync(id);

        (upload.GetProperty("content_type").GetString(), upload.GetProperty("width").GetInt32(), upload.GetProperty("filename").GetString())
            .Should().Be(("image/png", 1, "pixel.gif"));
        url.Should().Contain("/image.png?");
        upload.GetProperty("bytes").GetInt64().Should().Be(stored.Length);
        using var decoded = SKBitmap.Decode(stored);
        (decoded.Width, decoded.Height).Should().Be((1, 1));
        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
    }

    [Fact]
    public async Task An_upload_without_a_multipart_file_field_is_refused_by_name()
    {
        using var json = await Server.Alice.PostAsync("/v1/uploads/images", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        using var wrongField = await UploadAsync(Server.Alice, TestImages.Solid(8, 8, SKColors.Red), field: "image");
        using var anonymous = await UploadAsync(Server.Anonymous, TestImages.Solid(8, 8, SKColors.Red));

        json.StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);
        wrongField.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await wrongField.Content.ReadAsStringAsync()).Should().Contain("\"param\":\"file\"");
        anonymous.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_multipart_body_that_ends_inside_its_file_part_is_a_400_not_a_server_error()
    {
        var body = new ByteArrayContent("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\u0089PNG"u8.ToArray());
        body.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");

        using var response = await Server.Alice.PostAsync("/v1/uploads/images", body);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        error.GetProperty("param").GetString().Should().Be("file");
        error.GetProperty("message").GetString().Should().Contain("no closing boundary");
    }

    [Fact]
    public async Task An_upload_url_is_accepted_in_a_create_and_rendered_although_loopback_urls_are_refused()
    {
        var first = (await UploadOkAsync(Server.Alice, TestImages.Solid(320, 180, SKColors.Red))).GetProperty("url").GetString()!;
        var last = (await UploadOkAsync(Server.Alice, TestImages.Solid(320, 180, SKColors.Blue, SKEncodedImageFormat.Jpeg), "image/jpeg", "b.jpg"))
            .GetProperty("url").GetString()!;
        new Uri(first).IsLoopback.Should().BeTrue("the exception must hold for the server's own loopback address");

        var taskId = await Server.Alice.CreateAsync(JsonSerializer.Serialize(new
        {
            model = "kling-v3",
            prompt = "red to blue",
            duration = 3,
            image_urls = new[] { first, last },
        }));
        var task = await Server.Alice.WaitForTerminalAsync(taskId);

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
    }

    [Fact]
    public async Task Upload_urls_are_accepted_as_element_images()
    {
        var front = (await UploadOkAsync(Server.Alice, TestImages.Solid(64, 64, SKColors.Green))).GetProperty("url").GetString()!;
        var side = (await UploadOkAsync(Server.Alice, TestImages.Solid(64, 64, SKColors.Yellow))).GetProperty("url").GetString()!;

        var taskId = await Server.Alice.CreateAsync(JsonSerializer.Serialize(new
        {
            model = "kling-v3",
            prompt = "@dog on grass",
            duration = 3,
            elements = new[] { new { name = "dog", description = "a dog", element_input_urls = new[] { front, side } } },
        }));

        taskId.Should().StartWith("task_");
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "tampered signature", "signature" },
        { "another id, same signature", "signature" },
        { "another tenant", "tenant" },
        { "a result link on loopback", "loopback" },
        { "any other loopback URL", "loopback" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task The_exception_is_narrow(string variant, string reason)
    {
        var upload = await UploadOkAsync(Server.Alice, TestImages.Solid(32, 32, SKColors.Purple));
        var url = upload.GetProperty("url").GetString()!;
        var id = upload.GetProperty("id").GetString()!;
        var (client, imageUrl) = variant switch
        {
            "tampered signature" => (Server.Alice, url[..^2] + (url.EndsWith("AA", StringComparison.Ordinal) ? "BB" : "AA")),
            "another id, same signature" => (Server.Alice, url.Replace(id, id[..^1] + (id.EndsWith('0') ? "1" : "0"), StringComparison.Ordinal)),
            "another tenant" => (Server.Bob, url),
            "a result link on loopback" => (Server.Alice, $"{Server.BaseAddress}files/task_01KB0000000000000000000000/video.mp4?expires=9999999999&signature=x"),
            _ => (Server.Alice, $"http://127.0.0.1:{Server.BaseAddress.Port}/v1/models"),
        };

        var error = await client.PostErrorAsync(JsonSerializer.Serialize(new { model = "kling-v3", prompt = "x", image_urls = new[] { imageUrl } }), 400);

        error.GetProperty("param").GetString().Should().Be("image_urls[0]");
        error.GetProperty("message").GetString().Should().Contain(reason);
    }
}
