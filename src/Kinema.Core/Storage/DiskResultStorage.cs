namespace Kinema.Core.Storage;

/// <summary>Results as files under <c>{data}/results/{task id}/</c>.</summary>
internal sealed class DiskResultStorage(string root) : IResultStorage
{
    public async Task<StoredFile> SaveAsync(string taskId, string name, string sourcePath, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(root, SafeSegment(taskId));
        var target = Path.Combine(directory, SafeSegment(name));
        var staging = target + ".partial";
        // The scratch file is the caller's: its absence is a bug, not an outage, so it is opened outside the guard.
        await using var source = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        try
        {
            Directory.CreateDirectory(directory);
            // Copy then rename, so a reader never sees half a file and a crash leaves only a .partial behind.
            await using (var destination = new FileStream(staging, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await source.CopyToAsync(destination, cancellationToken);
                await destination.FlushAsync(cancellationToken);
                destination.Flush(flushToDisk: true);
            }

            File.Move(staging, target, overwrite: true);
            return new StoredFile(taskId, name, ContentTypes.ForName(name), new FileInfo(target).Length, target);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw Unavailable("store a file in", exception);
        }
    }

    public Task<StoredFile?> FindAsync(string taskId, string name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var path = Path.Combine(root, SafeSegment(taskId), SafeSegment(name));
        var info = new FileInfo(path);
        return Task.FromResult(info.Exists
            ? new StoredFile(taskId, name, ContentTypes.ForName(name), info.Length, path)
            {
                LastModified = info.LastWriteTimeUtc,
                // A save replaces the file, so its time and length change with its bytes (as static-file servers tag).
                ETag = FormattableString.Invariant($"\"{info.LastWriteTimeUtc.Ticks ^ info.Length:x}\""),
            }
            : null);
    }

    public Task<Stream> OpenReadAsync(StoredFile file, long offset, long? length, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var path = file.PhysicalPath ?? Path.Combine(root, SafeSegment(file.TaskId), SafeSegment(file.Name));
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        stream.Seek(offset, SeekOrigin.Begin);
        return Task.FromResult(length is { } count ? new SliceStream(stream, count) : (Stream)stream);
    }

    public Task DeleteAsync(string taskId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var directory = Path.Combine(root, SafeSegment(taskId));
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw Unavailable("delete files from", exception);
        }

        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<string> ListIdsAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!Directory.Exists(root))
        {
            yield break;
        }

        foreach (var directory in Directory.EnumerateDirectories(root, SafeSegment(prefix) + "*"))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return Path.GetFileName(directory);
        }

        await Task.CompletedTask;
    }

    /// <summary>
    /// Proves the results directory can take a file now (readiness): creates it when missing, as a save would, then
    /// writes a probe file that is deleted on close. Throws <see cref="IOException"/> or
    /// <see cref="UnauthorizedAccessException"/> when it cannot.
    /// </summary>
    internal void ProbeWritable()
    {
        Directory.CreateDirectory(root);
        var probe = Path.Combine(root, $".probe-{Guid.NewGuid():N}");
        using var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        file.WriteByte(0);
    }

    private ResultStorageUnavailableException Unavailable(string action, Exception exception) =>
        new($"cannot {action} the results directory {root}: {exception.Message}", exception);

    private static string SafeSegment(string value)
    {
        if (value.Length == 0 || value.Contains('/', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal)
            || value is "." or ".." || value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{value}' is not a safe file name.", nameof(value));
        }

        return value;
    }
}

/// <summary>Content types of the files Kinema stores.</summary>
public static class ContentTypes
{
    /// <summary>The content type for a file name's extension.</summary>
    public static string ForName(string name) => Path.GetExtension(name).ToLowerInvariant() switch
    {
        ".mp4" => "video/mp4",
        ".jpg" or ".jpeg" => "image/jpeg",
        ".png" => "image/png",
        ".webp" => "image/webp",
        _ => "application/octet-stream",
    };
}
