using System.ComponentModel.DataAnnotations;

namespace Kinema.Core.Storage;

/// <summary>Where results are kept (<c>Kinema:Storage</c>).</summary>
public sealed class ResultStorageOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Storage";

    /// <summary>Results on this node's disk, under the data directory's <c>results/</c>.</summary>
    public const string DiskProvider = "disk";

    /// <summary>Results in an S3-compatible object store (<c>Kinema:Storage:S3</c>).</summary>
    public const string S3Provider = "s3";

    /// <summary><c>disk</c> (default) or <c>s3</c>.</summary>
    public string Provider { get; set; } = DiskProvider;

    /// <summary>Whether the configured provider is <paramref name="provider"/>.</summary>
    public bool Uses(string provider) => string.Equals(Provider, provider, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Uses(DiskProvider) && !Uses(S3Provider))
        {
            yield return new ValidationResult(
                $"{Section}:Provider must be '{DiskProvider}' or '{S3Provider}', not '{Provider}'.", [nameof(Provider)]);
        }
    }
}
