using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kinema.Core.Storage;

/// <summary>
/// At start, removes the scratch that a killed process left in the node's <c>work/</c> directory: render attempts
/// (<c>work/&lt;task&gt;/attempt-N</c>) and request scratch (<c>work/requests/</c>: uploads and derived files in the
/// making). An upstream video kept through a storage outage (<c>work/&lt;task&gt;/archive</c>) stays for the poller.
/// </summary>
/// <remarks>
/// It is the first hosted service, so it runs before this process's scheduler claims a task and before Kestrel takes a
/// request; only entries last written before it ran go. <c>kinema serve</c> holds the data-directory lock, so no other
/// live process writes there.
/// </remarks>
internal sealed partial class DeadScratchCleanup(KinemaPaths paths, ILogger<DeadScratchCleanup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var removed = Remove(paths, DateTime.UtcNow);
        if (removed > 0)
        {
            LogRemoved(logger, removed, paths.Work);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Removes scratch last written before <paramref name="cutoffUtc"/>; returns how many entries went.</summary>
    internal static int Remove(KinemaPaths paths, DateTime cutoffUtc)
    {
        if (!Directory.Exists(paths.Work))
        {
            return 0;
        }

        var removed = 0;
        foreach (var task in Directory.EnumerateDirectories(paths.Work, TaskIds.Prefix + "*"))
        {
            foreach (var attempt in Directory.EnumerateDirectories(task, "attempt-*"))
            {
                removed += TryRemove(attempt, cutoffUtc);
            }

            try
            {
                // Not recursive: a directory that is not empty (a kept archive copy) stays.
                Directory.Delete(task, recursive: false);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
            }
        }

        if (Directory.Exists(paths.RequestScratch))
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(paths.RequestScratch))
            {
                removed += TryRemove(entry, cutoffUtc);
            }
        }

        return removed;
    }

    private static int TryRemove(string path, DateTime cutoffUtc)
    {
        try
        {
            if (Directory.Exists(path))
            {
                if (Directory.GetLastWriteTimeUtc(path) >= cutoffUtc)
                {
                    return 0;
                }

                Directory.Delete(path, recursive: true);
                return 1;
            }

            if (File.Exists(path) && File.GetLastWriteTimeUtc(path) < cutoffUtc)
            {
                File.Delete(path);
                return 1;
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Scratch that cannot go now only takes disk space; the next start tries again.
        }

        return 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed {Count} scratch entries that an earlier process left in {Directory}")]
    private static partial void LogRemoved(ILogger logger, int count, string directory);
}
