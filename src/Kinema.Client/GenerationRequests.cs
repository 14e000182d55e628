using Kinema.Contracts.Requests;

namespace Kinema.Client;

/// <summary>Typed ways to build the contract's requests; refine them with <c>with { … }</c>.</summary>
public static class GenerationRequests
{
    /// <summary>Text-to-video.</summary>
    public static GenerationRequest TextToVideo(string prompt, int duration = 5, string mode = GenerationModes.Standard,
        string aspectRatio = AspectRatios.Landscape) =>
        new() { Model = ModelNames.KlingV3, Prompt = prompt, Duration = duration, Mode = mode, AspectRatio = aspectRatio };

    /// <summary>Image-to-video from a first frame (and optionally a last frame): URLs, or local files sent as data URIs.</summary>
    public static GenerationRequest ImageToVideo(string prompt, string firstFrame, string? lastFrame = null, int duration = 5,
        string mode = GenerationModes.Standard) =>
        new()
        {
            Model = ModelNames.KlingV3,
            Prompt = prompt,
            Duration = duration,
            Mode = mode,
            ImageUrls = lastFrame is null
                ? [ImageInput.FromPathOrUrl(firstFrame)]
                : [ImageInput.FromPathOrUrl(firstFrame), ImageInput.FromPathOrUrl(lastFrame)],
        };

    /// <summary>A multi-shot storyboard whose shots' durations add up to the video's.</summary>
    public static GenerationRequest Storyboard(IReadOnlyList<(string Prompt, int Duration)> shots, string aspectRatio = AspectRatios.Landscape) =>
        new()
        {
            Model = ModelNames.KlingV3,
            MultiShot = true,
            ShotType = ShotTypes.Customize,
            Duration = shots.Sum(shot => shot.Duration),
            AspectRatio = aspectRatio,
            MultiPrompt = shots.Select((shot, index) => new Shot(index + 1, shot.Prompt, shot.Duration)).ToList(),
        };

    /// <summary>A reference subject from 2–4 pictures (the first frontal), mentioned in prompts as <c>@name</c>.</summary>
    public static Element Element(string name, string description, params string[] pictures) =>
        new(name, description, pictures.Select(ImageInput.FromPathOrUrl).ToList());
}
