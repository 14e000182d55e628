using System.ComponentModel.DataAnnotations;
using Kinema.Core.Upstream;

namespace Kinema.Engines.ComfyUI;

/// <summary>
/// A ComfyUI server running open video models (Wan, LTX-Video, HunyuanVideo) on the operator's own GPU
/// (<c>Kinema:Engines:ComfyUI</c>). Enabled when a base URL is set; the workflows say which model runs.
/// </summary>
public sealed class ComfyUiOptions : IValidatableObject, IUpstreamEngineOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Engines:ComfyUI";

    /// <summary>The ComfyUI server, e.g. <c>http://gpu-box:8188</c>. Trusted configuration: it may be on a private network.</summary>
    public string? BaseUrl { get; set; }

    /// <summary>
    /// A text-to-video workflow in ComfyUI's API format ("Export (API)"), with placeholders such as <c>"{{prompt}}"</c>
    /// where Kinema fills in the request (<see cref="ComfyUiWorkflow.Placeholders"/>).
    /// </summary>
    public string? TextWorkflow { get; set; }

    /// <summary>An image-to-video workflow with a <c>"{{first_frame}}"</c> image input; without it, first-frame tasks are refused.</summary>
    public string? ImageWorkflow { get; set; }

    /// <summary>A bearer token, for a ComfyUI behind an authenticating proxy (ComfyUI itself has none).</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Frames per second the model generates at (Wan 2.2 TI2V-5B and LTX-Video: 24; Wan 14B: 16). A task of <c>d</c>
    /// seconds asks for <c>d × fps + 1</c> frames, the 4n+1 / 8n+1 counts these models expect.
    /// </summary>
    [Range(1, 60)]
    public int FramesPerSecond { get; set; } = 24;

    /// <summary>
    /// Width and height are rounded down to a multiple of this, as the models' latents need (Wan 2.2 and LTX-Video: 32),
    /// so 720p is asked for as 1280×704. The task reports the size of the video it got.
    /// </summary>
    [Range(1, 256)]
    public int SizeMultiple { get; set; } = 32;

    /// <summary>Time limit of one call to ComfyUI.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a base URL is set.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(BaseUrl);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IsConfigured)
        {
            yield break;
        }

        if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            yield return new ValidationResult($"{Section}:BaseUrl must be an http(s) URL, not '{BaseUrl}'", [nameof(BaseUrl)]);
        }

        if (string.IsNullOrWhiteSpace(TextWorkflow))
        {
            yield return new ValidationResult($"{Section}:TextWorkflow must name a workflow file (ComfyUI's API format) when BaseUrl is set",
                [nameof(TextWorkflow)]);
        }
        else if (ComfyUiWorkflow.Check(TextWorkflow, imageToVideo: false) is { } problem)
        {
            yield return new ValidationResult($"{Section}:TextWorkflow: {problem}", [nameof(TextWorkflow)]);
        }

        if (!string.IsNullOrWhiteSpace(ImageWorkflow) && ComfyUiWorkflow.Check(ImageWorkflow, imageToVideo: true) is { } imageProblem)
        {
            yield return new ValidationResult($"{Section}:ImageWorkflow: {imageProblem}", [nameof(ImageWorkflow)]);
        }
    }
}
