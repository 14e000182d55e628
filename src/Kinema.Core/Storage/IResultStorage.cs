namespace Kinema.Core.Storage;

/// <summary>Kinema's own copies of results, kept so that they outlive any upstream link.</summary>
public interface IResultStorage
{
    /// <summary>Stores a file for a task under a name such as <c>video.mp4</c>, replacing any earlier one.</summary>
    Task<StoredFile> SaveAsync(string taskId, string name, string sourcePath, CancellationToken cancellationToken);

    /// <summary>Finds a stored file, or null.</summary>
    Task<StoredFile?> FindAsync(string taskId, string name, CancellationToken cancellationToken);

    /// <summary>Opens a stored file for reading (seekable for disk storage).</summary>
    Task<Stream> OpenReadAsync(StoredFile file, CancellationToken cancellationToken);
}

/// <summary>A stored result file.</summary>
/// <param name="TaskId">The owning task.</param>
/// <param name="Name">The file name, e.g. <c>video.mp4</c>.</param>
/// <param name="ContentType">E.g. <c>video/mp4</c>.</param>
/// <param name="Length">Bytes.</param>
/// <param name="PhysicalPath">The path on disk when the storage is a disk, else null.</param>
public sealed record StoredFile(string TaskId, string Name, string ContentType, long Length, string? PhysicalPath);
