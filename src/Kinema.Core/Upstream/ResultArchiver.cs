using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Storage;
using Microsoft.Extensions.Options;
using Kinema.Core.Tasks;

namespace Kinema.Core.Upstream;

/// <summary>
/// Copies an upstream result into Kinema's own storage before the task is completed, because upstream links expire
/// (Kling deletes results after 30 days; aggregators after a day). The copy is checked with ffprobe first.
/// </summary>
public sealed class ResultArchiver(
    IHttpClientFactory clients, IResultStorage storage, KinemaPaths paths, IOptions<FetchOptions> fetchOptions, IOptions<UpstreamOptions> upstreamOptions)
    : IDisposable
{
    /// <summary>The named HttpClient used for downloads (guarded against private addresses like every user-given URL).</summary>
    public const string ClientName = "kinema-fetch";

    /// <summary>The largest result accepted.</summary>
    public const long MaxVideoBytes = 4L * 1024 * 1024 * 1024;

    /// <summary>
    /// How long a copy kept for a storage outage waits for its next try before <see cref="RemoveStaleCopies"/> takes
    /// it: its task is then being polled by another node, or has ended.
    /// </summary>
    public static readonly TimeSpan KeptCopyIdleLimit = TimeSpan.FromHours(1);

    // Polls run 64 at once by default and are I/O; a burst of them finishing together must not start 64 ffprobes on
    // a two-core node, where they starve its HTTP server and every other process on the machine.
    private readonly SemaphoreSlim _probes = new(upstreamOptions.Value.MaxConcurrentProbes);
    private int _probesRunning;
    private int _peakProbesRunning;

    /// <summary>The most ffprobe runs this archiver has had at once (for tests of the cap).</summary>
    internal int PeakConcurrentProbes => Volatile.Read(ref _peakProbesRunning);

    private const string VideoFile = "video.mp4";
    private const string PosterFile = "poster.jpg";
    private const string SourceFile = "upstream-id";

    /// <summary>
    /// Downloads, checks and stores the result. When Kinema's own storage is out, the checked download is kept in the
    /// task's scratch directory and the next try on this node stores it without downloading it again.
    /// </summary>
    /// <exception cref="UpstreamException">
    /// Transient when the download failed; RequestRefused when the file is not a video, or the URL points at a private
    /// address (a permanent refusal: retrying it until the deadline would only hide the reason).
    /// </exception>
    /// <param name="taskId">The task the result belongs to.</param>
    /// <param name="upstreamId">The upstream's task id: a kept copy is reused only for the upstream task it came from.</param>
    /// <param name="status">The upstream's success, with the result's URLs.</param>
    /// <param name="host">The engine, when it serves results from its own configured host.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    public async Task<StoredResult> ArchiveAsync(
        string taskId, string upstreamId, UpstreamStatus status, IUpstreamResultHost? host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        var videoUrl = status.VideoUrls.FirstOrDefault()
                       ?? throw new UpstreamException(UpstreamErrorKind.RequestRefused, "upstream_no_result", "the upstream reported success without a video URL");
        var work = Path.Combine(paths.Work, taskId, "archive");
        var keep = false;
        try
        {
            var videoPath = Path.Combine(work, VideoFile);
            var posterPath = Path.Combine(work, PosterFile);
            MediaFacts facts;
            if (HoldsCopyOf(work, upstreamId))
            {
                Directory.SetLastWriteTimeUtc(work, DateTime.UtcNow);
                facts = await ProbeAsync(videoPath, cancellationToken)
                        ?? throw new UpstreamException(UpstreamErrorKind.RequestRefused, "upstream_bad_result", "the upstream's result is not a playable video");
            }
            else
            {
                if (Directory.Exists(work))
                {
                    Directory.Delete(work, recursive: true);
                }

                Directory.CreateDirectory(work);
                var partial = Path.Combine(work, "video.partial.mp4");
                await DownloadAsync(videoUrl, partial, MaxVideoBytes, host, cancellationToken);
                facts = await ProbeAsync(partial, cancellationToken)
                    ?? throw new UpstreamException(UpstreamErrorKind.RequestRefused, "upstream_bad_result", "the upstream's result is not a playable video");
                if (status.CoverUrl is { } cover)
                {
                    try
                    {
                        var partialPoster = Path.Combine(work, "poster.partial.jpg");
                        await DownloadAsync(cover, partialPoster, 20L * 1024 * 1024, host, cancellationToken);
                        File.Move(partialPoster, posterPath);
                    }
                    catch (UpstreamException)
                    {
                        // A cover is a nicety; the video is what the task promised.
                    }
                }

                // Renamed and labelled only once checked, so a copy found later is always a whole, playable video.
                File.Move(partial, videoPath);
                await File.WriteAllTextAsync(Path.Combine(work, SourceFile), upstreamId, cancellationToken);
            }

            await storage.SaveAsync(taskId, VideoFile, videoPath, cancellationToken);
            var posterName = File.Exists(posterPath)
                ? (await storage.SaveAsync(taskId, PosterFile, posterPath, cancellationToken)).Name
                : null;

            return new StoredResult
            {
                VideoName = VideoFile,
                PosterName = posterName,
                Width = facts.Width,
                Height = facts.Height,
                DurationSeconds = facts.DurationSeconds,
                HasAudio = facts.HasAudio,
            };
        }
        catch (Exception exception) when (ResultStorageUnavailableException.IsIn(exception))
        {
            // The upstream's part is done: the copy waits here for the storage's return, not for another download.
            keep = true;
            throw;
        }
        finally
        {
            if (!keep)
            {
                RemoveWithEmptyParent(work);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _probes.Dispose();

    private async Task<MediaFacts?> ProbeAsync(string path, CancellationToken cancellationToken)
    {
        await _probes.WaitAsync(cancellationToken);
        try
        {
            var running = Interlocked.Increment(ref _probesRunning);
            int peak;
            while (running > (peak = Volatile.Read(ref _peakProbesRunning))
                   && Interlocked.CompareExchange(ref _peakProbesRunning, running, peak) != peak)
            {
            }

            return await MediaProbe.ProbeAsync(path, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _probesRunning);
            _probes.Release();
        }
    }

    /// <summary>
    /// Removes copies kept for a storage outage that no try has touched for <paramref name="idleLimit"/>; returns how
    /// many. Runs on the poller's sweep, so a node's scratch does not fill with videos of tasks it no longer polls.
    /// Measured on the wall clock, as the files' times are.
    /// </summary>
    public int RemoveStaleCopies(TimeSpan idleLimit) => RemoveStaleCopies(paths.Work, idleLimit);

    internal static int RemoveStaleCopies(string workDirectory, TimeSpan idleLimit)
    {
        if (!Directory.Exists(workDirectory))
        {
            return 0;
        }

        var removed = 0;
        foreach (var task in Directory.EnumerateDirectories(workDirectory))
        {
            var archive = Path.Combine(task, "archive");
            if (!Directory.Exists(archive) || DateTime.UtcNow - LastTouched(archive) < idleLimit)
            {
                continue;
            }

            if (RemoveWithEmptyParent(archive))
            {
                removed++;
            }
        }

        return removed;
    }

    private static bool HoldsCopyOf(string work, string upstreamId)
    {
        var source = Path.Combine(work, SourceFile);
        return File.Exists(source) && File.Exists(Path.Combine(work, VideoFile))
                                   && string.Equals(File.ReadAllText(source), upstreamId, StringComparison.Ordinal);
    }

    private static DateTime LastTouched(string directory)
    {
        var latest = Directory.GetLastWriteTimeUtc(directory);
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            var written = File.GetLastWriteTimeUtc(file);
            latest = written > latest ? written : latest;
        }

        return latest;
    }

    /// <summary>Removes the directory, and its task's directory once nothing else is in it (one empty directory a task adds up).</summary>
    private static bool RemoveWithEmptyParent(string directory)
    {
        if (!TryDelete(directory))
        {
            return false;
        }

        var parent = Path.GetDirectoryName(directory)!;
        try
        {
            if (Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any())
            {
                Directory.Delete(parent);
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // A render of the same task put something there meanwhile: it is that render's to clean.
        }

        return true;
    }

    private static bool TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }

            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private async Task DownloadAsync(Uri url, string path, long maxBytes, IUpstreamResultHost? host, CancellationToken cancellationToken)
    {
        var ownHost = host is not null && host.Hosts(url);
        // Scheme, user info and literal addresses are checked before connecting; names resolving to a private address
        // are refused by the guarded handler at connect time (below).
        if (AddressPolicy.CheckCallbackUrl("url", url.OriginalString, allowPrivateNetworks: true) is { } violation)
        {
            throw new UpstreamException(UpstreamErrorKind.RequestRefused, "archive_failed",
                $"the upstream's result URL is not one Kinema downloads: {violation.Message["url ".Length..]}");
        }

        if (!ownHost && !fetchOptions.Value.AllowPrivateNetworks && AddressPolicy.CheckCallbackUrl("url", url.OriginalString, allowPrivateNetworks: false) is not null)
        {
            throw PrivateAddress(url.Host);
        }

        var client = ownHost ? host!.CreateResultClient() : clients.CreateClient(ClientName);
        try
        {
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var kind = (int)response.StatusCode is 404 or 410 or 403 ? UpstreamErrorKind.RequestRefused : UpstreamErrorKind.Transient;
                throw new UpstreamException(kind, "archive_failed", $"downloading the result failed: HTTP {(int)response.StatusCode}");
            }

            if (response.Content.Headers.ContentLength > maxBytes)
            {
                throw new UpstreamException(UpstreamErrorKind.RequestRefused, "archive_failed", "the result is larger than Kinema accepts");
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 16];
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += read;
                if (total > maxBytes)
                {
                    throw new UpstreamException(UpstreamErrorKind.RequestRefused, "archive_failed", "the result is larger than Kinema accepts");
                }

                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        catch (HttpRequestException exception) when (BlockedAddressException.FindIn(exception) is not null)
        {
            throw PrivateAddress(url.Host, exception);
        }
        catch (HttpRequestException exception)
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "archive_failed", "downloading the result failed: " + exception.Message, null, exception);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "archive_failed", "downloading the result timed out", null, exception);
        }
    }

    private static UpstreamException PrivateAddress(string host, Exception? inner = null) =>
        new(UpstreamErrorKind.RequestRefused, "result_url_blocked",
            $"the upstream's result URL points at a private address ({host} is loopback, private or link-local), which Kinema does not download from",
            null, inner);
}
