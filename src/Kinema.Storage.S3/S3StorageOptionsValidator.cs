using Microsoft.Extensions.Options;

namespace Kinema.Storage.S3;

/// <summary>Stops start-up on an unusable store setting, naming the key (and never echoing a secret).</summary>
internal sealed class S3StorageOptionsValidator : IValidateOptions<S3StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, S3StorageOptions options)
    {
        var failures = new List<string>();
        const string Key = S3StorageOptions.Section;
        if (string.IsNullOrWhiteSpace(options.Bucket))
        {
            failures.Add($"{Key}:Bucket is required when Kinema:Storage:Provider is s3.");
        }

        if (options.ServiceUrl is { Length: > 0 } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https")))
        {
            failures.Add($"{Key}:ServiceUrl must be an absolute http(s) URL, not '{url}'.");
        }

        if (string.IsNullOrWhiteSpace(options.AccessKey) != string.IsNullOrWhiteSpace(options.SecretKey))
        {
            failures.Add($"{Key}:AccessKey and {Key}:SecretKey go together: set both, or neither to use the default AWS credentials.");
        }

        if (string.IsNullOrWhiteSpace(options.Region))
        {
            failures.Add($"{Key}:Region must not be empty.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
