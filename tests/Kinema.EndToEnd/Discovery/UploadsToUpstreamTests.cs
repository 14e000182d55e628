using System.Net.Http.Headers;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.EndToEnd.Upstream;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd.Discovery;

/// <summary>An upload link on the server's loopback address reaches an upstream engine inline, read from storage.</summary>
public sealed class UploadsToUpstreamTests : IAsyncLifetime
{
    private const string AccessKey = "ak_uploads";
    private const string SecretKey = "sk_uploads_0123456789abcdef0123456789";
    private FakeKlingServer _kling = null!;

    public async ValueTask InitializeAsync() => _kling = await FakeKlingServer.StartAsync(AccessKey, SecretKey);

    public async ValueTask DisposeAsync() => await _kling.DisposeAsync();

    [Fact]
    public async Task Kling_receives_a_loopback_upload_as_base64_not_as_an_unreachable_url()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Fetch:AllowPrivateNetworks"] = "false",
            ["Kinema:Engines:Kling:BaseUrl"] = _kling.BaseAddress.ToString(),
            ["Kinema:Engines:Kling:AccessKey"] = AccessKey,
            ["Kinema:Engines:Kling:SecretKey"] = SecretKey,
        });
        var png = TestImages.Solid(64, 36, SKColors.Teal);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(png);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", "first.png");
        using var uploaded = await server.Alice.PostAsync("/v1/uploads/images", form);
        var url = JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()).RootElement.GetProperty("url").GetString()!;

        await server.Alice.CreateAsync(JsonSerializer.Serialize(new { model = "kling-v3", prompt = "a teal wall", image_urls = new[] { url } }));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (_kling.SubmittedBodies.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        _kling.SubmittedBodies.Should().ContainSingle().Which["image"]!.GetValue<string>().Should().Be(Convert.ToBase64String(png));
    }
}
