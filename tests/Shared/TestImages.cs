using SkiaSharp;

namespace Kinema.Testing;

/// <summary>Pictures made on the spot for image-to-video tests.</summary>
internal static class TestImages
{
    /// <summary>A solid-colour picture with a contrasting disc, encoded as PNG or JPEG.</summary>
    public static byte[] Solid(int width, int height, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(color);
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 90);
        return data.ToArray();
    }

    /// <summary>The same picture as a data URI.</summary>
    public static string DataUri(byte[] png, string mediaType = "image/png") =>
        $"data:{mediaType};base64,{Convert.ToBase64String(png)}";
}
