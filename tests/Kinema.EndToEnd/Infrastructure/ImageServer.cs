using Kinema.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using SkiaSharp;

namespace Kinema.EndToEnd.Infrastructure;

/// <summary>A loopback web server with pictures, standing in for the image hosts users link to.</summary>
internal sealed class ImageServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ImageServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static readonly SKColor FirstColor = new(220, 40, 40);
    public static readonly SKColor LastColor = new(40, 60, 220);

    public string Url(string name) => new Uri(BaseAddress, name).ToString();

    public static async Task<ImageServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var first = TestImages.Solid(1280, 720, FirstColor, SKEncodedImageFormat.Jpeg);
        var last = TestImages.Solid(1280, 720, LastColor, SKEncodedImageFormat.Png);
        var dog = TestImages.Solid(600, 800, new SKColor(200, 160, 60));
        var cat = TestImages.Solid(600, 800, new SKColor(90, 90, 90));
        app.MapGet("/first.jpg", () => Results.Bytes(first, "image/jpeg"));
        app.MapGet("/last.png", () => Results.Bytes(last, "image/png"));
        app.MapGet("/dog.png", () => Results.Bytes(dog, "image/png"));
        app.MapGet("/cat.png", () => Results.Bytes(cat, "image/png"));
        app.MapGet("/missing.png", () => Results.NotFound());
        await app.StartAsync();
        return new ImageServer(app, new Uri(app.Urls.First()));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
