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
public sealed class ResultArchiver(IHttpClientFactory clients, IResultStorage storage, KinemaPaths paths, IOptions<FetchOptions> fetchOptions)
{
    /// <summary>The named HttpClient used for downloads (guarded against private addresses like every user-given URL).</summary>
    public const string ClientName = "kinema-fetch";

    /// <summary>The largest result accepted.</summary>
    public const long MaxVideoBytes = 4L * 1024 * 1024 * 1024;

    /// <summary>Downloads, checks and stores the result.</summary>
    /// <exception cref="UpstreamException">
    /// Transient when the download failed; RequestRefused when the file is not a video, or the URL points at a private
    /// address (a permanent refusal: retrying it until the deadline would only hide the reason).
    /// </exception>
    /// <param name="taskId">The task the result belongs to.</param>
    /// <param name="status">The upstream's success, with the result's URLs.</param>
    /// <param name="host">The engine, when it serves results from its own configured host.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    public async Task<StoredResult> ArchiveAsync(string taskId, UpstreamStatus status, IUpstreamResultHost? host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        var videoUrl = status.VideoUrls.FirstOrDefault()
                       ?? throw new UpstreamException(UpstreamErrorKind.RequestRefused, "upstream_no_result", "the upstream reported success without a video URL");
        var work = Path.Combine(paths.Work, taskId, "archive");
        Directory.CreateDirectory(work);
        try
        {
            var videoPath = Path.Combine(work, "video.mp4");
            await DownloadAsync(videoUrl, videoPath, MaxVideoBytes, host, cancellationToken);
            var facts = await MediaProbe.ProbeAsync(videoPath, cancellationToken)
                        ?? throw new UpstreamException(UpstreamErrorKind.RequestRefused, "upstream_bad_result", "the upstream's result is not a playable video");
            await storage.SaveAsync(taskId, "video.mp4", videoPath, cancellationToken);
            string? posterName = null;
            if (status.CoverUrl is { } cover)
            {
                try
                {
                    var coverPath = Path.Combine(work, "poster.jpg");
                    await DownloadAsync(cover, coverPath, 20L * 1024 * 1024, host, cancellationToken);
                    posterName = (await storage.SaveAsync(taskId, "poster.jpg", coverPath, cancellationToken)).Name;
                }
                catch (UpstreamException)
                {
                    // A cover is a nicety; the video is what the task promised.
                }
            }

            return new StoredResult
            {
                VideoName = "video.mp4",
                PosterName = posterName,
                Width = facts.Width,
                Height = facts.Height,
                DurationSeconds = facts.DurationSeconds,
                HasAudio = facts.HasAudio,
            };
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
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
