using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Kinema.Core.Engines;

namespace Kinema.Core.Upstream;

/// <summary>What ffprobe says of a downloaded result, to check it is a real video before the task is completed.</summary>
public sealed record MediaFacts(int Width, int Height, double DurationSeconds, bool HasAudio, string VideoCodec);

/// <summary>Runs ffprobe.</summary>
public static class MediaProbe
{
    /// <summary>
    /// How long ffprobe may take. Reading a result's headers takes milliseconds; a file crafted to make it loop, or a
    /// probe that never returns, must not hold the poll (and its claim) for good.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Probes a file; null when it holds no video stream ffprobe can read.</summary>
    /// <exception cref="UpstreamException">Transient, when ffprobe did not finish within <see cref="Timeout"/>.</exception>
    public static Task<MediaFacts?> ProbeAsync(string path, CancellationToken cancellationToken) => ProbeAsync(path, Timeout, cancellationToken);

    internal static async Task<MediaFacts?> ProbeAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-v", "error", "-show_format", "-show_streams", "-of", "json", path })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffprobe could not be started");
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout);
        var output = process.StandardOutput.ReadToEndAsync(bounded.Token);
        _ = process.StandardError.ReadToEndAsync(bounded.Token);
        try
        {
            await process.WaitForExitAsync(bounded.Token);
        }
        catch (OperationCanceledException)
        {
            // Not left running behind a cancelled or timed-out probe. (ffprobe starts no children; a process that has
            // exited meanwhile makes this a no-op.)
            process.Kill();
            cancellationToken.ThrowIfCancellationRequested();
            throw new UpstreamException(UpstreamErrorKind.Transient, "archive_failed",
                $"checking the result with ffprobe took longer than {timeout.TotalSeconds:0.#} s");
        }

        if (process.ExitCode != 0)
        {
            return null;
        }

        using var document = JsonDocument.Parse(await output);
        var streams = document.RootElement.TryGetProperty("streams", out var list) ? list.EnumerateArray().ToList() : [];
        var video = streams.FirstOrDefault(s => s.GetProperty("codec_type").GetString() == "video");
        if (video.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var duration = document.RootElement.TryGetProperty("format", out var format) && format.TryGetProperty("duration", out var d)
            ? double.Parse(d.GetString()!, CultureInfo.InvariantCulture)
            : 0;
        return new MediaFacts(
            video.GetProperty("width").GetInt32(),
            video.GetProperty("height").GetInt32(),
            duration,
            streams.Any(s => s.GetProperty("codec_type").GetString() == "audio"),
            video.GetProperty("codec_name").GetString() ?? "");
    }
}
