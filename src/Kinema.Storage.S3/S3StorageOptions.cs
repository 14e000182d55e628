using System.ComponentModel.DataAnnotations;

namespace Kinema.Storage.S3;

/// <summary>An S3-compatible object store for results (<c>Kinema:Storage:S3</c>), used when <c>Kinema:Storage:Provider</c> is <c>s3</c>.</summary>
public sealed class S3StorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Storage:S3";

    /// <summary>The store's endpoint, e.g. <c>http://minio:9000</c>; objects are then addressed path-style. Unset: AWS S3 in <see cref="Region"/>.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The bucket results go to (it must exist).</summary>
    public string? Bucket { get; set; }

    /// <summary>The access key id; with <see cref="SecretKey"/>. Unset: the AWS SDK's default credentials (environment, instance role).</summary>
    public string? AccessKey { get; set; }

    /// <summary>The secret access key. Never logged.</summary>
    public string? SecretKey { get; set; }

    /// <summary>The signing region.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Give clients the store's own presigned GET URLs instead of Kinema's <c>/files</c> links.</summary>
    public bool PresignedUrls { get; set; }

    /// <summary>
    /// How long one request to the store may take until it answers (an upload: until it is sent and answered), after
    /// which it counts as out of reach. The SDK waits forever for S3 by default, so a store that takes connections and
    /// then stops answering would hold a poll, a render's save or a download request for good. A download that the store
    /// has begun to answer streams for as long as it takes.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Files at least this large are sent as a multipart upload.</summary>
    [Range(MinPartBytes, 5L * 1024 * 1024 * 1024)]
    public long MultipartThresholdBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>The size of each part of a multipart upload (S3's minimum is 5 MiB).</summary>
    [Range(MinPartBytes, 5L * 1024 * 1024 * 1024)]
    public long PartSizeBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>The smallest part S3 accepts (except the last).</summary>
    internal const long MinPartBytes = 5L * 1024 * 1024;
}
