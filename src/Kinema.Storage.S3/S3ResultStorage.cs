using System.Net;
using System.Net.Sockets;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Kinema.Core.Storage;

namespace Kinema.Storage.S3;

/// <summary>
/// Results as objects <c>{task id}/{name}</c> in one bucket, shared by every node. Nothing is kept on the node: the
/// caller's scratch file is uploaded and the caller deletes it; reads ask the store for just the bytes wanted.
/// </summary>
internal sealed class S3ResultStorage : IResultStorage, IDisposable
{
    // SigV4 presigned URLs are refused beyond a week.
    private static readonly TimeSpan MaxPresignedLifetime = TimeSpan.FromDays(7);

    private readonly IAmazonS3 _client;
    private readonly S3StorageOptions _options;
    private readonly string _bucket;
    private readonly TimeProvider _time;
    private readonly Protocol _protocol;

    public S3ResultStorage(S3StorageOptions options, TimeProvider time)
        : this(CreateClient(options), options, time)
    {
    }

    internal S3ResultStorage(IAmazonS3 client, S3StorageOptions options, TimeProvider time)
    {
        _client = client;
        _options = options;
        _bucket = options.Bucket ?? throw new ArgumentException("A bucket is required.", nameof(options));
        _time = time;
        // The SDK presigns https links unless told otherwise, which a plain-http store would not answer.
        _protocol = options.ServiceUrl is { } url && url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? Protocol.HTTP : Protocol.HTTPS;
    }

    public async Task<StoredFile> SaveAsync(string taskId, string name, string sourcePath, CancellationToken cancellationToken)
    {
        var key = Key(taskId, name);
        var contentType = ContentTypes.ForName(name);
        var length = new FileInfo(sourcePath).Length;
        var etag = await GuardAsync("store an object in", async () => length < _options.MultipartThresholdBytes
            ? (await _client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = _bucket,
                Key = key,
                FilePath = sourcePath,
                ContentType = contentType,
                // S3-compatible stores (s3rver, older MinIO) keep aws-chunked framing inside the object: send it plain.
                UseChunkEncoding = false,
            }, cancellationToken)).ETag
            : await UploadInPartsAsync(key, contentType, sourcePath, length, cancellationToken), cancellationToken);
        return new StoredFile(taskId, name, contentType, length, null) { ETag = etag, LastModified = _time.GetUtcNow() };
    }

    public async Task<StoredFile?> FindAsync(string taskId, string name, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await _client.GetObjectMetadataAsync(_bucket, Key(taskId, name), cancellationToken);
            return new StoredFile(taskId, name, ContentTypes.ForName(name), metadata.ContentLength, null)
            {
                ETag = metadata.ETag,
                LastModified = metadata.LastModified is { } modified ? new DateTimeOffset(modified.ToUniversalTime()) : null,
            };
        }
        catch (AmazonS3Exception exception) when (exception.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception exception) when (IsOutOfReach(exception, cancellationToken))
        {
            throw Unavailable("look up an object in", exception);
        }
    }

    public async Task<Stream> OpenReadAsync(StoredFile file, long offset, long? length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var end = length is { } count ? offset + count - 1 : file.Length - 1;
        if (end < offset)
        {
            // An empty range cannot be asked of S3 (and an empty object has no byte 0).
            return new MemoryStream([], writable: false);
        }

        var request = new GetObjectRequest { BucketName = _bucket, Key = Key(file.TaskId, file.Name) };
        if (offset > 0 || length is not null)
        {
            request.ByteRange = length is null ? new ByteRange($"bytes={offset}-") : new ByteRange(offset, end);
        }

        var response = await GuardAsync("read an object from", () => _client.GetObjectAsync(request, cancellationToken), cancellationToken);
        // The body streams from the store as it is read; disposing it releases the connection.
        var body = response.ResponseStream;
        var expected = end - offset + 1;
        if (request.ByteRange is null || response.ContentLength == expected)
        {
            return body;
        }

        // The store sent more than asked (s3rver reads "bytes=0-0" as "bytes=0-"; some stores ignore ranges and send it
        // all): skip to the range's start and stop at its end.
        var bodyStart = response.HttpStatusCode == HttpStatusCode.PartialContent ? RangeStart(response.ContentRange) : 0;
        if (bodyStart > offset || response.ContentLength < expected)
        {
            await body.DisposeAsync();
            throw new InvalidDataException($"The store answered bytes {offset}-{end} of {file.TaskId}/{file.Name} with '{response.ContentRange}'.");
        }

        await SkipAsync(body, offset - bodyStart, cancellationToken);
        return new SliceStream(body, expected);
    }

    private static long RangeStart(string? contentRange)
    {
        // "bytes 0-69999/70000"
        var value = contentRange?.Replace("bytes ", "", StringComparison.Ordinal).Split('-')[0];
        return long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var start) ? start : long.MaxValue;
    }

    private static async Task SkipAsync(Stream body, long count, CancellationToken cancellationToken)
    {
        var buffer = new byte[(int)Math.Clamp(count, 1, 1 << 16)];
        while (count > 0)
        {
            var read = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(count, buffer.Length)), cancellationToken);
            if (read == 0)
            {
                throw new EndOfStreamException("The store sent less than the object's length.");
            }

            count -= read;
        }
    }

    public async Task DeleteAsync(string taskId, CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = Segment(taskId) + "/" };
        await GuardAsync("delete objects from", async () =>
        {
            ListObjectsV2Response page;
            do
            {
                page = await _client.ListObjectsV2Async(request, cancellationToken);
                // One DELETE per object: a task has two or three, and not every S3-compatible store takes batch deletes.
                foreach (var item in page.S3Objects ?? [])
                {
                    await _client.DeleteObjectAsync(_bucket, item.Key, cancellationToken);
                }

                request.ContinuationToken = page.NextContinuationToken;
            }
            while (page.IsTruncated == true);
            return true;
        }, cancellationToken);
    }

    public async IAsyncEnumerable<string> ListIdsAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Keys are "{id}/{name}" and a listing is in key order, so an id's files are adjacent: report each id once.
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = Segment(prefix) };
        string? last = null;
        ListObjectsV2Response page;
        do
        {
            page = await GuardAsync("list the objects of", () => _client.ListObjectsV2Async(request, cancellationToken), cancellationToken);
            foreach (var item in page.S3Objects ?? [])
            {
                var slash = item.Key.IndexOf('/', StringComparison.Ordinal);
                if (slash <= 0 || item.Key.AsSpan(0, slash).SequenceEqual(last))
                {
                    continue;
                }

                last = item.Key[..slash];
                yield return last;
            }

            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);
    }

    public ResultLink? GetDirectLink(string taskId, string name, TimeSpan lifetime)
    {
        if (!_options.PresignedUrls)
        {
            return null;
        }

        var expiresAt = _time.GetUtcNow() + (lifetime < MaxPresignedLifetime ? lifetime : MaxPresignedLifetime);
        var url = _client.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = Key(taskId, name),
            Verb = HttpVerb.GET,
            Expires = expiresAt.UtcDateTime,
            Protocol = _protocol,
        });
        return new ResultLink(new Uri(url), expiresAt);
    }

    public void Dispose() => _client.Dispose();

    /// <summary>Runs a request to the store, turning "the store is out of reach" into <see cref="ResultStorageUnavailableException"/>.</summary>
    private async Task<T> GuardAsync<T>(string action, Func<Task<T>> request, CancellationToken cancellationToken)
    {
        try
        {
            return await request();
        }
        catch (Exception exception) when (IsOutOfReach(exception, cancellationToken))
        {
            throw Unavailable(action, exception);
        }
    }

    /// <summary>
    /// The store's refusals (5xx, a missing bucket, credentials it does not accept), the network's failures and the SDK's
    /// own timeouts. Not the caller's cancellation, and not Kinema's own checks (a bad name, a range the store got wrong).
    /// </summary>
    private static bool IsOutOfReach(Exception exception, CancellationToken cancellationToken) => exception switch
    {
        AmazonServiceException or AmazonClientException or HttpRequestException or SocketException or TimeoutException => true,
        IOException and not EndOfStreamException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    private ResultStorageUnavailableException Unavailable(string action, Exception exception) =>
        new($"cannot {action} the bucket '{_bucket}' at {_options.ServiceUrl ?? _options.Region}: {exception.Message}", exception);

    private async Task<string?> UploadInPartsAsync(string key, string contentType, string sourcePath, long length, CancellationToken cancellationToken)
    {
        // Parts read straight from the file, one at a time: nothing is buffered beyond the SDK's copy buffer.
        // (TransferUtility is not used: over plain http it corrupts large uploads to S3-compatible stores.)
        var upload = await _client.InitiateMultipartUploadAsync(
            new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key, ContentType = contentType }, cancellationToken);
        try
        {
            var parts = new List<PartETag>();
            var number = 1;
            for (long position = 0; position < length; position += _options.PartSizeBytes, number++)
            {
                var part = await _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _bucket,
                    Key = key,
                    UploadId = upload.UploadId,
                    PartNumber = number,
                    FilePath = sourcePath,
                    FilePosition = position,
                    PartSize = Math.Min(_options.PartSizeBytes, length - position),
                    UseChunkEncoding = false,
                }, cancellationToken);
                parts.Add(new PartETag(number, part.ETag));
            }

            var completed = await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = key,
                UploadId = upload.UploadId,
                PartETags = parts,
            }, cancellationToken);
            return completed.ETag;
        }
        catch
        {
            // Parts of an abandoned upload are billed until aborted.
            await _client.AbortMultipartUploadAsync(
                new AbortMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = upload.UploadId }, CancellationToken.None);
            throw;
        }
    }

    internal static AmazonS3Client CreateClient(S3StorageOptions options)
    {
        var config = new AmazonS3Config { Timeout = options.RequestTimeout };
        if (options.ServiceUrl is { Length: > 0 } serviceUrl)
        {
            config.ServiceURL = serviceUrl;
            config.AuthenticationRegion = options.Region;
            // Self-hosted stores rarely resolve bucket subdomains.
            config.ForcePathStyle = true;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        return options.AccessKey is { Length: > 0 } accessKey
            ? new AmazonS3Client(new BasicAWSCredentials(accessKey, options.SecretKey), config)
            : new AmazonS3Client(config);
    }

    private static string Key(string taskId, string name) => $"{Segment(taskId)}/{Segment(name)}";

    private static string Segment(string value)
    {
        if (value.Length == 0 || value.Contains('/', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal)
            || value is "." or "..")
        {
            throw new ArgumentException($"'{value}' is not a safe object name segment.", nameof(value));
        }

        return value;
    }
}
