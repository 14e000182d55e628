using Kinema.Contracts.Rules;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.Tests.Contracts;

public sealed class ImageHeaderTests
{
    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "image/png")]
    [InlineData(SKEncodedImageFormat.Jpeg, "image/jpeg")]
    [InlineData(SKEncodedImageFormat.Webp, "image/webp")]
    public void Reads_format_and_size_of_an_encoded_image(SKEncodedImageFormat format, string mediaType)
    {
        var bytes = TestImages.Solid(321, 123, SKColors.Purple, format);

        var header = ImageHeader.TryRead(bytes, out var problem);

        header.Should().Be(new ImageHeader(mediaType, 321, 123), problem);
    }

    [Fact]
    public void Reads_lossless_webp_vp8l()
    {
        using var bitmap = new SKBitmap(77, 55);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Webp, 100);

        ImageHeader.TryRead(data.ToArray(), out _).Should().Be(new ImageHeader("image/webp", 77, 55));
    }

    [Fact]
    public void Reads_gif_logical_screen()
    {
        byte[] gif = [.. "GIF89a"u8, 0x40, 0x01, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x3B];

        ImageHeader.TryRead(gif, out _).Should().Be(new ImageHeader("image/gif", 320, 240));
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "truncated PNG")]
    [InlineData(SKEncodedImageFormat.Jpeg, "truncated")]
    [InlineData(SKEncodedImageFormat.Webp, "truncated WebP")]
    public void Refuses_a_file_cut_short(SKEncodedImageFormat format, string expected)
    {
        var bytes = TestImages.Solid(200, 100, SKColors.Purple, format);

        foreach (var length in new[] { bytes.Length - 1, bytes.Length / 2, 40 })
        {
            ImageHeader.TryRead(bytes.AsSpan(0, length), out var problem).Should().BeNull();
            problem.Should().Contain(expected);
        }
    }

    [Fact]
    public void Refuses_a_gif_without_its_trailer()
    {
        byte[] gif = [.. "GIF89a"u8, 0x40, 0x01, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x2C];

        ImageHeader.TryRead(gif, out var problem).Should().BeNull();
        problem.Should().Contain("truncated GIF");
    }

    [Fact]
    public void Ignores_zero_padding_after_jpeg_eoi()
    {
        var jpeg = TestImages.Solid(50, 40, SKColors.Purple, SKEncodedImageFormat.Jpeg);

        ImageHeader.TryRead([.. jpeg, 0, 0, 0], out _).Should().Be(new ImageHeader("image/jpeg", 50, 40));
    }

    [Theory]
    [InlineData("")]
    [InlineData("hello world")]
    [InlineData("<svg xmlns='http://www.w3.org/2000/svg'/>")]
    public void Refuses_what_is_not_an_image(string text)
    {
        ImageHeader.TryRead(System.Text.Encoding.UTF8.GetBytes(text), out var problem).Should().BeNull();
        problem.Should().Be("is not a JPEG, PNG, GIF or WebP image");
    }

    [Fact]
    public void Data_uri_check_names_the_field_and_enforces_the_caps()
    {
        var png = TestImages.DataUri(TestImages.Solid(100, 100, SKColors.Purple));

        DataUriImage.Check("image_urls[0]", png, DataUriImage.DefaultMaxBytes, DataUriImage.DefaultMaxPixels).Should().BeNull();
        DataUriImage.Check("image_urls[0]", png, DataUriImage.DefaultMaxBytes, 99 * 100)!.Message
            .Should().StartWith("image_urls[0] is 100×100 pixels");
        DataUriImage.Check("image_urls[1]", png, 1024, DataUriImage.DefaultMaxPixels) // the PNG of a solid square is tiny
            .Should().BeNull();
        DataUriImage.Check("image_urls[1]", png, 10, DataUriImage.DefaultMaxPixels)!.Param.Should().Be("image_urls[1]");
    }

    [Fact]
    public void A_gif_data_uri_is_refused_pointing_at_the_upload_that_takes_it()
    {
        byte[] gif = [.. "GIF89a"u8, 0x40, 0x01, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x3B];
        var declared = DataUriImage.Check("image_urls[0]", "data:image/gif;base64," + Convert.ToBase64String(gif),
            DataUriImage.DefaultMaxBytes, DataUriImage.DefaultMaxPixels);
        var disguised = DataUriImage.Check("image_urls[1]", "data:image/png;base64," + Convert.ToBase64String(gif),
            DataUriImage.DefaultMaxBytes, DataUriImage.DefaultMaxPixels);

        declared!.Param.Should().Be("image_urls[0]");
        declared.Message.Should().Be("image_urls[0] is a GIF data URI; Kinema accepts data:image/(png|jpeg|webp);base64, here "
                                     + "(POST /v1/uploads/images takes a GIF and keeps its first frame as a PNG)");
        disguised!.Param.Should().Be("image_urls[1]");
        disguised.Message.Should().Be("image_urls[1] holds a GIF image; Kinema accepts JPEG, PNG or WebP here "
                                      + "(POST /v1/uploads/images takes a GIF and keeps its first frame as a PNG)");
    }
}
