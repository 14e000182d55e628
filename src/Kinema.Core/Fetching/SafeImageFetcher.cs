using System.Net;
using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Kinema.Core.Fetching;

/// <summary>
/// Loads request images: data URIs decoded locally, http(s) URLs fetched through the guarded handler with every
/// redirect re-checked, the body capped in bytes, the format sniffed (JPEG, PNG, WebP only) and the pixels capped.
/// Every failure names the field it came from.
/// </summary>
internal sealed class SafeImageFetcher(IHttpClientFactory clients, IOptions<FetchOptions> options, IOwnImageReader? ownImages = null)
    : IImageSource
{
    public const string ClientName = "kinema-fetch";

    private readonly FetchOptions _options = options.Value;

    public async Task<FetchedImage> LoadAsync(string fieldPath, string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        var bytes = url.StartsWith("data:", StringComparison.OrdinalIgnoreCase)
            ? DecodeDataUri(fieldPath, url)
            : (ownImages is null ? null : await ownImages.TryReadAsync(fieldPath, url, _options.MaxImageBytes, cancellationToken))
              ?? await FetchAsync(fieldPath, url, cancellationToken);
        return Inspect(fieldPath, bytes);
    }

    private byte[] DecodeDataUri(string fieldPath, string url)
    {
        if (AddressPolicy.CheckImageUrl(fieldPath, url, allowPrivateNetworks: true) is { } violation)
        {
            throw Failure(fieldPath, violation.Message[(fieldPath.Length + 1)..]);
        }

        var bytes = Convert.FromBase64String(url[(url.IndexOf(',', StringComparison.Ordinal) + 1)..]);
        if (bytes.Length > _options.MaxImageBytes)
        {
            throw Failure(fieldPath, $"larger than {_options.MaxImageBytes / (1024 * 1024)} MiB");
        }

        return bytes;
    }

    private async Task<byte[]> FetchAsync(string fieldPath, string url, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        var client = clients.CreateClient(ClientName);
        var current = url;
        try
        {
            for (var hop = 0; ; hop++)
            {
                // Every hop gets the submit-time check too: scheme, user info, literal addresses.
                var violation = AddressPolicy.CheckCallbackUrl(fieldPath, current, _options.AllowPrivateNetworks);
                if (violation is not null)
                {
                    throw Failure(fieldPath, hop == 0
                        ? violation.Message[(fieldPath.Length + 1)..]
                        : $"redirected to a URL Kinema does not fetch ({Describe(current)})");
                }

                using var response = await client.GetAsync(new Uri(current), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    if (hop >= _options.MaxRedirects)
                    {
                        throw Failure(fieldPath, $"more than {_options.MaxRedirects} redirects");
                    }

                    current = new Uri(new Uri(current), location).ToString();
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw Failure(fieldPath, $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
                }

                return await ReadCappedAsync(fieldPath, response, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure(fieldPath, $"no complete answer within {_options.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException exception)
        {
            // A blocked address (the guard, at connect time) is as final as any other fetch failure here: the task fails
            // at once with the guard's reason, never retried.
            var reason = BlockedAddressException.FindIn(exception)?.Message ?? exception.Message;
            throw Failure(fieldPath, reason);
        }
    }

    private async Task<byte[]> ReadCappedAsync(string fieldPath, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var cap = _options.MaxImageBytes;
        if (response.Content.Headers.ContentLength > cap)
        {
            throw Failure(fieldPath, $"larger than {cap / (1024 * 1024)} MiB");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > cap)
            {
                throw Failure(fieldPath, $"larger than {cap / (1024 * 1024)} MiB");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private FetchedImage Inspect(string fieldPath, byte[] bytes)
    {
        // The same header reader the submit-time rules use on data URIs: format, completeness and size without decoding.
        var header = ImageHeader.TryRead(bytes, out var problem);
        if (header is null || header.MediaType == "image/gif")
        {
            throw Failure(fieldPath, header is not null ? "a GIF image; Kinema accepts JPEG, PNG or WebP here (POST /v1/uploads/images takes a GIF and keeps its first frame as a PNG)"
                : problem.StartsWith("is not", StringComparison.Ordinal) ? "not a JPEG, PNG or WebP image"
                : problem.StartsWith("is ", StringComparison.Ordinal) ? problem["is ".Length..]
                : problem);
        }

        if (header.Pixels > _options.MaxImagePixels)
        {
            throw Failure(fieldPath, $"{header.Width}×{header.Height} is more than the {_options.MaxImagePixels:N0} pixels Kinema accepts");
        }

        using var codec = SKCodec.Create(new MemoryStream(bytes));
        if (codec is null || codec.Info.Width <= 0 || codec.Info.Height <= 0)
        {
            throw Failure(fieldPath, "the image cannot be decoded");
        }

        return new FetchedImage(bytes, header.MediaType, codec.Info.Width, codec.Info.Height);
    }

    private static string Describe(string url) =>
        url.StartsWith("data:", StringComparison.OrdinalIgnoreCase) ? "a data URI" : url.Length > 80 ? url[..80] + "…" : url;

    private static EngineFailureException Failure(string fieldPath, string reason) =>
        new("image_fetch_failed", $"{fieldPath}: {reason}");
}
