using System.Net;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Kinema.Tests.Fetching;

/// <summary>The fetcher against a real Kestrel server on loopback.</summary>
public sealed class SafeImageFetcherTests : IAsyncLifetime
{
    private static readonly byte[] Png = TestImages.Solid(64, 48, SKColors.OrangeRed);
    private WebApplication _server = null!;
    private string _base = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _server = builder.Build();
        _server.MapGet("/a.png", () => Results.Bytes(Png, "image/png"));
        _server.MapGet("/a.jpg", () => Results.Bytes(TestImages.Solid(32, 32, SKColors.Blue, SKEncodedImageFormat.Jpeg), "image/jpeg"));
        _server.MapGet("/lying.png", () => Results.Bytes("<html>not an image</html>"u8.ToArray(), "image/png"));
        _server.MapGet("/big.png", () => Results.Bytes(new byte[3 * 1024 * 1024], "image/png"));
        _server.MapGet("/chunked", async (HttpContext context) =>
        {
            context.Response.ContentType = "image/png";
            var chunk = new byte[64 * 1024];
            for (var i = 0; i < 64; i++)
            {
                await context.Response.Body.WriteAsync(chunk);
                await context.Response.Body.FlushAsync();
            }
        });
        _server.MapGet("/huge-pixels.png", () => Results.Bytes(TestImages.Solid(2000, 2000, SKColors.Green), "image/png"));
        _server.MapGet("/missing.png", () => Results.NotFound());
        _server.MapGet("/redirect/{hops:int}", (int hops) => Results.Redirect(hops <= 1 ? "/a.png" : $"/redirect/{hops - 1}"));
        _server.MapGet("/to", (string target) => Results.Redirect(target));
        await _server.StartAsync();
        _base = _server.Urls.First();
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync();
        await _server.DisposeAsync();
    }

    private static SafeImageFetcher Fetcher(FetchOptions options, Func<IPAddress, bool>? isBlocked = null) =>
        new(new OneClientFactory(new HttpClient(GuardedHttpHandler.Create(options, isBlocked))), Options.Create(options));

    private static FetchOptions Allowing => new() { AllowPrivateNetworks = true, MaxImageBytes = 2 * 1024 * 1024, MaxImagePixels = 1_000_000 };

    private async Task<string> FailureOf(SafeImageFetcher fetcher, string url, string field = "image_urls[0]")
    {
        var act = () => fetcher.LoadAsync(field, url, CancellationToken.None);
        var failure = (await act.Should().ThrowAsync<EngineFailureException>()).Which;
        failure.Code.Should().Be("image_fetch_failed");
        failure.Message.Should().StartWith(field + ":");
        return failure.Message;
    }

    [Fact]
    public async Task Fetches_a_png_and_reads_its_size()
    {
        var image = await Fetcher(Allowing).LoadAsync("image_urls[0]", $"{_base}/a.png", CancellationToken.None);

        image.MediaType.Should().Be("image/png");
        (image.Width, image.Height).Should().Be((64, 48));
        image.Bytes.Should().Equal(Png);
    }

    [Fact]
    public async Task Decodes_data_uris_locally()
    {
        var image = await Fetcher(new FetchOptions()).LoadAsync("image_urls[0]", TestImages.DataUri(Png), CancellationToken.None);

        (image.Width, image.Height).Should().Be((64, 48));
    }

    [Theory]
    [InlineData("http://127.0.0.1:{port}/a.png")]
    [InlineData("http://localhost:{port}/a.png")]
    [InlineData("http://[::1]:{port}/a.png")]
    public async Task Production_policy_refuses_loopback(string template)
    {
        var url = template.Replace("{port}", new Uri(_base).Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

        var message = await FailureOf(Fetcher(new FetchOptions()), url, "elements[0].element_input_urls[1]");

        message.Should().Contain("loopback, private or link-local");
    }

    [Fact]
    public async Task A_hostname_resolving_to_a_blocked_address_is_refused_at_connect_time()
    {
        // The literal check is off; only the connect-time check on resolved addresses stands between us and 127.0.0.1.
        var fetcher = Fetcher(Allowing, address => IPAddress.IsLoopback(address));

        var message = await FailureOf(fetcher, $"http://localhost:{new Uri(_base).Port}/a.png");

        message.Should().Contain("resolves to a loopback, private or link-local address");
    }

    [Fact]
    public async Task Follows_redirects_up_to_the_cap()
    {
        var fetcher = Fetcher(Allowing with { MaxRedirects = 3 });

        (await fetcher.LoadAsync("image_urls[0]", $"{_base}/redirect/3", CancellationToken.None)).Width.Should().Be(64);
        (await FailureOf(fetcher, $"{_base}/redirect/4")).Should().Contain("more than 3 redirects");
    }

    [Fact]
    public async Task A_redirect_to_a_blocked_address_is_refused_even_after_an_allowed_first_hop()
    {
        var port = new Uri(_base).Port;
        // 127.0.0.1 (the test server) is allowed; 127.0.0.2, the redirect's target, is not.
        var fetcher = Fetcher(Allowing, address => !address.Equals(IPAddress.Loopback));

        var message = await FailureOf(fetcher, $"{_base}/to?target=http://127.0.0.2:{port}/a.png");

        message.Should().Contain("127.0.0.2").And.Contain("loopback, private or link-local");
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("data:image/png;base64,iVBORw0KGgo=")]
    [InlineData("ftp://example.com/a.png")]
    public async Task A_redirect_to_another_scheme_is_refused(string target)
    {
        var message = await FailureOf(Fetcher(Allowing), $"{_base}/to?target={Uri.EscapeDataString(target)}");

        message.Should().Contain("redirected to a URL Kinema does not fetch");
    }

    [Fact]
    public async Task A_body_over_the_byte_cap_is_refused_by_content_length()
    {
        (await FailureOf(Fetcher(Allowing), $"{_base}/big.png")).Should().Contain("larger than 2 MiB");
    }

    [Fact]
    public async Task A_chunked_body_over_the_byte_cap_is_refused_while_reading()
    {
        (await FailureOf(Fetcher(Allowing), $"{_base}/chunked")).Should().Contain("larger than 2 MiB");
    }

    [Fact]
    public async Task A_body_that_is_not_an_image_is_refused_whatever_its_content_type()
    {
        (await FailureOf(Fetcher(Allowing), $"{_base}/lying.png")).Should().Contain("not a JPEG, PNG or WebP");
    }

    [Fact]
    public async Task An_image_over_the_pixel_cap_is_refused()
    {
        (await FailureOf(Fetcher(Allowing), $"{_base}/huge-pixels.png")).Should().Contain("2000×2000");
    }

    [Fact]
    public async Task An_http_error_names_the_status()
    {
        (await FailureOf(Fetcher(Allowing), $"{_base}/missing.png", "image_urls[1]")).Should().Contain("404");
    }

    [Fact]
    public async Task Jpeg_is_accepted()
    {
        (await Fetcher(Allowing).LoadAsync("image_urls[0]", $"{_base}/a.jpg", CancellationToken.None)).MediaType.Should().Be("image/jpeg");
    }

    private sealed class OneClientFactory(HttpClient client) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => client;
    }
}
