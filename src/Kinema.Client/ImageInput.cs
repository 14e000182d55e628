namespace Kinema.Client;

/// <summary>Turns local pictures into what the contract accepts: URLs pass through, files become data URIs.</summary>
public static class ImageInput
{
    /// <summary>The largest local file sent inline.</summary>
    public const long MaxFileBytes = 20L * 1024 * 1024;

    /// <summary>An http(s) URL as is, or a local file's contents as a <c>data:image/…;base64,</c> URI.</summary>
    public static string FromPathOrUrl(string pathOrUrl)
    {
        if (pathOrUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            || pathOrUrl.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
            || pathOrUrl.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return pathOrUrl;
        }

        return FromFile(pathOrUrl);
    }

    /// <summary>A local JPEG, PNG or WebP file as a data URI.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="ArgumentException">Too large, or not a JPEG/PNG/WebP picture.</exception>
    public static string FromFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"image file not found: {path}", path);
        }

        if (info.Length > MaxFileBytes)
        {
            throw new ArgumentException($"{path} is larger than {MaxFileBytes / (1024 * 1024)} MiB", nameof(path));
        }

        var bytes = File.ReadAllBytes(path);
        return $"data:{MediaTypeOf(bytes, path)};base64,{Convert.ToBase64String(bytes)}";
    }

    private static string MediaTypeOf(byte[] bytes, string path)
    {
        if (bytes is [0xFF, 0xD8, 0xFF, ..])
        {
            return "image/jpeg";
        }

        if (bytes is [0x89, 0x50, 0x4E, 0x47, ..])
        {
            return "image/png";
        }

        if (bytes.Length >= 12 && bytes.AsSpan(0, 4).SequenceEqual("RIFF"u8) && bytes.AsSpan(8, 4).SequenceEqual("WEBP"u8))
        {
            return "image/webp";
        }

        throw new ArgumentException($"{path} is not a JPEG, PNG or WebP picture", nameof(path));
    }
}
