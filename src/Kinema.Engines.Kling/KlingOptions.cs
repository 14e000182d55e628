using System.ComponentModel.DataAnnotations;
using Kinema.Core.Upstream;

namespace Kinema.Engines.Kling;

/// <summary>The official Kling API (<c>Kinema:Engines:Kling</c>). The engine is enabled when keys are set.</summary>
public sealed class KlingOptions : IValidatableObject, IUpstreamEngineOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Engines:Kling";

    /// <summary>The API's base URL (global by default; <c>https://api-beijing.klingai.com</c> in China).</summary>
    [Required]
    public string BaseUrl { get; set; } = "https://api-singapore.klingai.com";

    /// <summary>The access key: the JWT's issuer.</summary>
    public string? AccessKey { get; set; }

    /// <summary>The secret key the JWT is signed with.</summary>
    public string? SecretKey { get; set; }

    /// <summary>The model name sent upstream.</summary>
    [Required]
    public string ModelName { get; set; } = "kling-v3";

    /// <summary>Time limit of one upstream call.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when both keys are set.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(AccessKey) && !string.IsNullOrWhiteSpace(SecretKey);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(AccessKey) != string.IsNullOrWhiteSpace(SecretKey))
        {
            yield return new ValidationResult(
                "Kinema:Engines:Kling needs both AccessKey and SecretKey (or neither, to leave the engine off)",
                [nameof(AccessKey), nameof(SecretKey)]);
        }

        if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            yield return new ValidationResult($"Kinema:Engines:Kling:BaseUrl must be an http(s) URL, not '{BaseUrl}'", [nameof(BaseUrl)]);
        }
    }
}
