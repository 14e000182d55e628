using System.ComponentModel.DataAnnotations;

namespace Kinema.Server;

/// <summary>Host-level settings (<c>Kinema</c>).</summary>
public sealed class KinemaServerOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema";

    /// <summary>The URL clients reach this server at, for result links; by default the request's own host.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>How long a result URL stays valid after the query that returned it.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan ResultUrlLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The largest create body, room for data-URI images.</summary>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 32L * 1024 * 1024;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (PublicBaseUrl is { Length: > 0 } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult(
                $"Kinema:PublicBaseUrl must be an absolute http(s) URL, not '{url}'.", [nameof(PublicBaseUrl)]);
        }
    }
}
