using System.ComponentModel.DataAnnotations;

namespace Kinema.Engines.Animatic;

/// <summary>Settings of the built-in preview engine (<c>Kinema:Animatic</c>).</summary>
public sealed class AnimaticOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Animatic";

    /// <summary>The ffmpeg executable.</summary>
    [Required]
    public string FfmpegPath { get; set; } = "ffmpeg";

    /// <summary>The ffprobe executable.</summary>
    [Required]
    public string FfprobePath { get; set; } = "ffprobe";

    /// <summary>libx264 preset for 720p and 1080p.</summary>
    [Required]
    public string Preset { get; set; } = "veryfast";

    /// <summary>libx264 preset for 4K, where encoding dominates.</summary>
    [Required]
    public string UltraHdPreset { get; set; } = "ultrafast";

    /// <summary>The TrueType font for captions.</summary>
    public string FontPath { get; set; } = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
}
