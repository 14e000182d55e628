using Kinema.Contracts.Requests;

namespace Kinema.Server.OpenAi;

/// <summary>
/// OpenAI's <c>size</c> ("WxH") against the contract's mode and aspect ratio: each size Kinema can make is exactly one
/// (mode, aspect ratio) pair, so a size is never silently swapped for a different one.
/// </summary>
internal static class VideoSizes
{
    /// <summary>The size used when a create names none.</summary>
    public const string Default = "1280x720";

    private static readonly (string Size, string Mode, string AspectRatio)[] Table =
    [
        ("1280x720", GenerationModes.Standard, AspectRatios.Landscape),
        ("720x1280", GenerationModes.Standard, AspectRatios.Portrait),
        ("720x720", GenerationModes.Standard, AspectRatios.Square),
        ("1920x1080", GenerationModes.Professional, AspectRatios.Landscape),
        ("1080x1920", GenerationModes.Professional, AspectRatios.Portrait),
        ("1080x1080", GenerationModes.Professional, AspectRatios.Square),
        ("3840x2160", GenerationModes.UltraHd, AspectRatios.Landscape),
        ("2160x3840", GenerationModes.UltraHd, AspectRatios.Portrait),
        ("2160x2160", GenerationModes.UltraHd, AspectRatios.Square),
    ];

    /// <summary>Every size Kinema makes, comma-separated, for error messages.</summary>
    public static string Listed { get; } = string.Join(", ", Table.Select(row => row.Size));

    /// <summary>The mode and aspect ratio that make <paramref name="size"/>, or false when Kinema cannot make it.</summary>
    public static bool TryMap(string size, out string mode, out string aspectRatio)
    {
        foreach (var row in Table)
        {
            if (row.Size == size)
            {
                (mode, aspectRatio) = (row.Mode, row.AspectRatio);
                return true;
            }
        }

        (mode, aspectRatio) = ("", "");
        return false;
    }

    /// <summary>The size a request makes (its mode and aspect ratio, whichever API created it).</summary>
    public static string Of(GenerationRequest request)
    {
        foreach (var row in Table)
        {
            if (row.Mode == request.Mode && row.AspectRatio == request.AspectRatio)
            {
                return row.Size;
            }
        }

        return Default;
    }
}
