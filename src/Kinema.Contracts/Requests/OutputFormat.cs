namespace Kinema.Contracts.Requests;

/// <summary>Output size by mode and aspect ratio (contract section 4).</summary>
public static class OutputFormat
{
    /// <summary>Frames per second of every video Kinema produces.</summary>
    public const int FramesPerSecond = 24;

    /// <summary>The pixel size for a mode and aspect ratio.</summary>
    public static (int Width, int Height) SizeFor(string mode, string aspectRatio)
    {
        var longSide = mode switch
        {
            GenerationModes.Professional => 1920,
            GenerationModes.UltraHd => 3840,
            _ => 1280,
        };
        var shortSide = mode switch
        {
            GenerationModes.Professional => 1080,
            GenerationModes.UltraHd => 2160,
            _ => 720,
        };
        return aspectRatio switch
        {
            AspectRatios.Portrait => (shortSide, longSide),
            AspectRatios.Square => (shortSide, shortSide),
            _ => (longSide, shortSide),
        };
    }
}
