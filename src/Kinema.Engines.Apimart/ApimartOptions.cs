using System.ComponentModel.DataAnnotations;
using Kinema.Core.Upstream;

namespace Kinema.Engines.Apimart;

/// <summary>An upstream speaking Kinema's own contract (<c>Kinema:Engines:Apimart</c>). Enabled when a key is set.</summary>
public sealed class ApimartOptions : IValidatableObject, IUpstreamEngineOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Engines:Apimart";

    /// <summary>The service's base URL.</summary>
    public string? BaseUrl { get; set; }

    /// <summary>Its API key.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Time limit of one upstream call.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a key is set.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(ApiKey);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsConfigured && (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult($"Kinema:Engines:Apimart:BaseUrl must be an http(s) URL when ApiKey is set, not '{BaseUrl}'", [nameof(BaseUrl)]);
        }
    }
}
