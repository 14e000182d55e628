using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Kinema.Core.Upstream;

/// <summary>What ffprobe says of a downloaded result, to check it is a real video before the task is completed.</summary>
public sealed record MediaFacts(int Width, int Height, double DurationSeconds, bool HasAudio, string VideoCodec);

/// <summary>Runs ffprobe.</summary>
public static class MediaProbe
{
    /// <summary>Probes a file; null when it holds no video stream ffprobe can read.</summary>
    public static async Task<MediaFacts?> ProbeAsync(string path, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-v", "error", "-show_format", "-show_streams", "-of", "json", path })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffprobe could not be started");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        _ = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
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
