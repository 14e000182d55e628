using System.Buffers;
using System.Buffers.Text;

namespace Kinema.Contracts.Rules;

/// <summary>
/// Submit-time checks of a <c>data:image/…;base64,</c> image: the bytes are in the request, so a data URI holding text,
/// a cut-off file or a decompression bomb is refused now, naming the field, instead of failing the task later.
/// Only the base64 and the image's header are read; no pixel is decoded.
/// </summary>
public static class DataUriImage
{
    /// <summary>The default cap on an image's encoded size (the server's <c>Kinema:Fetch:MaxImageBytes</c>).</summary>
    public const long DefaultMaxBytes = 20L * 1024 * 1024;

    /// <summary>The default cap on width × height (the server's <c>Kinema:Fetch:MaxImagePixels</c>).</summary>
    public const long DefaultMaxPixels = 8192L * 8192;

    /// <summary>True when <paramref name="url"/> is a data URI (whatever it holds).</summary>
    public static bool IsDataUri(string url) => url.StartsWith("data:", StringComparison.OrdinalIgnoreCase);

    /// <summary>Checks a data URI's syntax, decoded size, format, completeness and pixel count. Null when acceptable.</summary>
    /// <param name="param">The field path for the violation, e.g. <c>image_urls[0]</c>.</param>
    /// <param name="url">The data URI as given.</param>
    /// <param name="maxBytes">The largest decoded image accepted.</param>
    /// <param name="maxPixels">The largest width × height accepted.</param>
    public static RuleViolation? Check(string param, string url, long maxBytes, long maxPixels)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (AddressPolicy.CheckImageUrl(param, url, allowPrivateNetworks: true) is { } syntax)
        {
            return syntax;
        }

        var payload = url.AsSpan(url.IndexOf(',', StringComparison.Ordinal) + 1);
        // The decoded length is known from the base64 alone, so the byte cap costs no decoding.
        if (!Base64.IsValid(payload, out var decodedLength))
        {
            return new RuleViolation(param, $"{param} is a data URI whose base64 payload is empty or invalid");
        }

        if (decodedLength > maxBytes)
        {
            return new RuleViolation(param,
                $"{param} is a data URI holding {Size(decodedLength)} of image, over the {Size(maxBytes)} Kinema accepts; upload the image and pass its URL");
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(decodedLength, 1));
        try
        {
            if (!Convert.TryFromBase64Chars(payload, buffer, out var written))
            {
                return new RuleViolation(param, $"{param} is a data URI whose base64 payload is empty or invalid");
            }

            if (ImageHeader.TryRead(buffer.AsSpan(0, written), out var problem) is not { } header)
            {
                return new RuleViolation(param, $"{param} {problem}");
            }

            if (header.MediaType == "image/gif")
            {
                return new RuleViolation(param, $"{param} holds a GIF image; Kinema accepts JPEG, PNG or WebP here (POST /v1/uploads/images takes a GIF and keeps its first frame as a PNG)");
            }

            if (header.Pixels > maxPixels)
            {
                return new RuleViolation(param,
                    $"{param} is {header.Width}×{header.Height} pixels, more than the {maxPixels:N0} pixels Kinema accepts");
            }

            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Size(long bytes) => bytes >= 1024 * 1024
        ? $"{bytes / (1024.0 * 1024):0.#} MiB"
        : $"{bytes / 1024.0:0.#} KiB";
}
