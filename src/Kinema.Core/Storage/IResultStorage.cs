namespace Kinema.Core.Storage;

/// <summary>
/// Kinema's own copies of results, kept so that they outlive any upstream link: a node's disk or an object store
/// shared by every node. Files are addressed by task id and name (<c>video.mp4</c>, <c>poster.jpg</c>).
/// </summary>
public interface IResultStorage
{
    /// <summary>Stores a file for a task under a name such as <c>video.mp4</c>, replacing any earlier one.</summary>
    /// <remarks>The source is left in place; the caller owns (and cleans) its scratch directory.</remarks>
    Task<StoredFile> SaveAsync(string taskId, string name, string sourcePath, CancellationToken cancellationToken);

    /// <summary>Finds a stored file, or null.</summary>
    Task<StoredFile?> FindAsync(string taskId, string name, CancellationToken cancellationToken);

    /// <summary>
    /// Opens <paramref name="length"/> bytes of a stored file from <paramref name="offset"/> (to the end when null), reading
    /// only those bytes from the store. The caller checks the range against <see cref="StoredFile.Length"/>.
    /// </summary>
    Task<Stream> OpenReadAsync(StoredFile file, long offset, long? length, CancellationToken cancellationToken);

    /// <summary>Opens a whole stored file for reading.</summary>
    Task<Stream> OpenReadAsync(StoredFile file, CancellationToken cancellationToken) =>
        OpenReadAsync(file, 0, null, cancellationToken);

    /// <summary>Removes every file of a task; nothing happens when it has none.</summary>
    Task DeleteAsync(string taskId, CancellationToken cancellationToken);

    /// <summary>
    /// The ids that have stored files and start with <paramref name="prefix"/> (e.g. <c>upl_</c> for uploads), each once,
    /// in no particular order: for housekeeping, never on a request path.
    /// </summary>
    IAsyncEnumerable<string> ListIdsAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>
    /// A link clients can download the file from directly (an object store's presigned URL), or null when downloads go
    /// through Kinema's own signed <c>/files</c> links. Computed locally: no request to the store, no existence check.
    /// </summary>
    ResultLink? GetDirectLink(string taskId, string name, TimeSpan lifetime) => null;
}

/// <summary>A stored result file.</summary>
/// <param name="TaskId">The owning task.</param>
/// <param name="Name">The file name, e.g. <c>video.mp4</c>.</param>
/// <param name="ContentType">E.g. <c>video/mp4</c>.</param>
/// <param name="Length">Bytes.</param>
/// <param name="PhysicalPath">The path on disk when the storage is a disk, else null.</param>
public sealed record StoredFile(string TaskId, string Name, string ContentType, long Length, string? PhysicalPath)
{
    /// <summary>When the file was stored, when the storage says.</summary>
    public DateTimeOffset? LastModified { get; init; }

    /// <summary>The storage's entity tag (quoted, as in HTTP), when it has one.</summary>
    public string? ETag { get; init; }
}

/// <summary>A direct download link and the moment it stops working.</summary>
/// <param name="Url">The absolute URL.</param>
/// <param name="ExpiresAt">When the link expires (the storage may cap the lifetime asked for).</param>
public sealed record ResultLink(Uri Url, DateTimeOffset ExpiresAt);
