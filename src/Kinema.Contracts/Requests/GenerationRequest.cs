namespace Kinema.Contracts.Requests;

/// <summary>A validated Kling v3 generation request, as <c>POST /v1/videos/generations</c> accepts it.</summary>
public sealed record GenerationRequest
{
    /// <summary>The model name; <c>kling-v3</c>.</summary>
    public required string Model { get; init; }

    /// <summary>Scene, action and style. Optional only in multi-shot mode.</summary>
    public string? Prompt { get; init; }

    /// <summary><c>std</c> (720p), <c>pro</c> (1080p) or <c>4k</c>.</summary>
    public string Mode { get; init; } = GenerationModes.Standard;

    /// <summary>Length in whole seconds, 3 to 15.</summary>
    public int Duration { get; init; } = Rules.GenerationRequestRules.DefaultDuration;

    /// <summary><c>16:9</c>, <c>9:16</c> or <c>1:1</c>.</summary>
    public string AspectRatio { get; init; } = AspectRatios.Landscape;

    /// <summary>What to exclude from the video.</summary>
    public string? NegativePrompt { get; init; }

    /// <summary>Zero images (text-to-video), one (first frame) or two (first and last frame).</summary>
    public IReadOnlyList<string> ImageUrls { get; init; } = [];

    /// <summary>Adds a visible watermark.</summary>
    public bool Watermark { get; init; }

    /// <summary>Generates an audio track.</summary>
    public bool Audio { get; init; }

    /// <summary>Multi-shot storyboard mode.</summary>
    public bool MultiShot { get; init; }

    /// <summary><c>customize</c> or <c>intelligence</c>; required when <see cref="MultiShot"/> is true.</summary>
    public string? ShotType { get; init; }

    /// <summary>The storyboard's shots (customize mode), 1 to 6.</summary>
    public IReadOnlyList<Shot> MultiPrompt { get; init; } = [];

    /// <summary>Reference subjects, at most 3, mentioned in prompts as <c>@name</c>.</summary>
    public IReadOnlyList<Element> Elements { get; init; } = [];

    /// <summary>Kinema addition: a URL notified when the task ends.</summary>
    public string? CallbackUrl { get; init; }

    /// <summary>
    /// Kinema addition, never part of the wire body: set when the task was made through another API's façade (the
    /// OpenAI Videos API), so that façade can show the task in its own shape and announce it with its own events.
    /// </summary>
    public FacadeOrigin? Facade { get; init; }

    /// <summary>True when the request has a first frame (image-to-video).</summary>
    public bool IsImageToVideo => ImageUrls.Count > 0;
}

/// <summary>Which façade made a task, and what that façade needs to remember about it.</summary>
/// <param name="Api">The façade, e.g. <see cref="OpenAiVideos"/>.</param>
/// <param name="RemixedFromVideoId">The video (task id) this one remixes, when it is a remix.</param>
public sealed record FacadeOrigin(string Api, string? RemixedFromVideoId = null)
{
    /// <summary>The OpenAI Videos API at <c>/v1/videos</c>.</summary>
    public const string OpenAiVideos = "openai.videos";

    /// <summary>True when the OpenAI Videos façade made the task.</summary>
    public bool IsOpenAiVideo => Api == OpenAiVideos;
}

/// <summary>One shot of a multi-shot storyboard.</summary>
/// <param name="Index">1-based position, continuous.</param>
/// <param name="Prompt">At most 512 characters.</param>
/// <param name="Duration">Whole seconds, at least 1.</param>
public sealed record Shot(int Index, string Prompt, int Duration);

/// <summary>A reference subject created on the fly.</summary>
/// <param name="Name">The name the prompt mentions as <c>@name</c>.</param>
/// <param name="Description">What the subject is.</param>
/// <param name="ElementInputUrls">2 to 4 images; the first is the frontal image.</param>
public sealed record Element(string Name, string Description, IReadOnlyList<string> ElementInputUrls);

/// <summary>The values of <c>mode</c>.</summary>
public static class GenerationModes
{
    /// <summary>720p.</summary>
    public const string Standard = "std";
    /// <summary>1080p.</summary>
    public const string Professional = "pro";
    /// <summary>2160p.</summary>
    public const string UltraHd = "4k";

    /// <summary>Every accepted mode.</summary>
    public static IReadOnlyList<string> All { get; } = [Standard, Professional, UltraHd];
}

/// <summary>The values of <c>aspect_ratio</c>.</summary>
public static class AspectRatios
{
    /// <summary>Landscape.</summary>
    public const string Landscape = "16:9";
    /// <summary>Portrait.</summary>
    public const string Portrait = "9:16";
    /// <summary>Square.</summary>
    public const string Square = "1:1";

    /// <summary>Every accepted ratio.</summary>
    public static IReadOnlyList<string> All { get; } = [Landscape, Portrait, Square];
}

/// <summary>The values of <c>shot_type</c>.</summary>
public static class ShotTypes
{
    /// <summary>The caller gives the shots.</summary>
    public const string Customize = "customize";
    /// <summary>The engine splits the prompt into shots.</summary>
    public const string Intelligence = "intelligence";
}

/// <summary>Known model names.</summary>
public static class ModelNames
{
    /// <summary>Kling v3.</summary>
    public const string KlingV3 = "kling-v3";
}
