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

    /// <summary>
    /// How often each node looks for files of failed or cancelled tasks that their task's end could not remove (the
    /// storage was out of reach then, or the node died): see <see cref="OrphanedResultsJanitor"/>. Each sweep lists every
    /// task id in the storage, so it is not frequent.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan OrphanSweepInterval { get; set; } = TimeSpan.FromHours(6);

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
