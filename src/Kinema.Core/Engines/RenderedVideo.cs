namespace Kinema.Core.Engines;

/// <summary>What an engine produced, as files inside the job's working directory.</summary>
/// <param name="VideoPath">The MP4.</param>
/// <param name="PosterPath">A JPEG of the first frame, when the engine made one.</param>
/// <param name="Width">Pixel width.</param>
/// <param name="Height">Pixel height.</param>
/// <param name="DurationSeconds">Length in seconds.</param>
/// <param name="HasAudio">Whether the MP4 has an audio stream.</param>
public sealed record RenderedVideo(
    string VideoPath,
    string? PosterPath,
    int Width,
    int Height,
    double DurationSeconds,
    bool HasAudio);
