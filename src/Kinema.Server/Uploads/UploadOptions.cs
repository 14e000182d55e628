using System.ComponentModel.DataAnnotations;

namespace Kinema.Server.Uploads;

/// <summary>How long uploaded images are kept (<c>Kinema:Uploads</c>).</summary>
public sealed class UploadOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Uploads";

    /// <summary>
    /// How long an uploaded image stays stored. At least the 72 h an upload link is valid, so that no link a client
    /// holds points at a deleted file, plus room for a task that waited in the queue.
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often each node looks for uploads past <see cref="Retention"/>.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Retention < UploadUrls.Lifetime)
        {
            yield return new ValidationResult(
                $"Kinema:Uploads:Retention must be at least {UploadUrls.Lifetime.TotalHours:0} hours, the lifetime of an upload link; it is {Retention}.",
                [nameof(Retention)]);
        }
    }
}
