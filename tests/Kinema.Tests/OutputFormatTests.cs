using Kinema.Contracts.Requests;

namespace Kinema.Tests;

public sealed class OutputFormatTests
{
    [Theory]
    [InlineData("std", "16:9", 1280, 720)]
    [InlineData("std", "9:16", 720, 1280)]
    [InlineData("std", "1:1", 720, 720)]
    [InlineData("pro", "16:9", 1920, 1080)]
    [InlineData("pro", "9:16", 1080, 1920)]
    [InlineData("pro", "1:1", 1080, 1080)]
    [InlineData("4k", "16:9", 3840, 2160)]
    [InlineData("4k", "9:16", 2160, 3840)]
    [InlineData("4k", "1:1", 2160, 2160)]
    public void Size_follows_mode_and_aspect_ratio(string mode, string ratio, int width, int height)
    {
        OutputFormat.SizeFor(mode, ratio).Should().Be((width, height));
    }
}
