using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Kinema.Testing;

/// <summary>What ffprobe says of a media file: the facts every test of a produced video checks.</summary>
internal sealed record MediaReport(
    string FormatName,
    double Duration,
    string? VideoCodec,
    int Width,
    int Height,
    string? PixelFormat,
    double FrameRate,
    long? FrameCount,
    string? AudioCodec,
    int? AudioSampleRate,
    int? AudioChannels,
    double? AudioDuration)
{
    public bool HasAudio => AudioCodec is not null;
}

/// <summary>Runs the real ffprobe.</summary>
internal static class Ffprobe
{
    public static async Task<MediaReport> ProbeAsync(string path, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo("ffprobe")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-v", "error", "-count_packets", "-show_format", "-show_streams", "-of", "json", path })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffprobe failed on {path}: {await error}");
        }

        using var document = JsonDocument.Parse(await output);
        var root = document.RootElement;
        var format = root.GetProperty("format");
        JsonElement? video = null, audio = null;
        foreach (var stream in root.GetProperty("streams").EnumerateArray())
        {
            var type = stream.GetProperty("codec_type").GetString();
            if (type == "video" && video is null)
            {
                video = stream;
            }
            else if (type == "audio" && audio is null)
            {
                audio = stream;
            }
        }

        return new MediaReport(
            format.GetProperty("format_name").GetString()!,
            ParseDouble(format, "duration") ?? 0,
            video?.GetProperty("codec_name").GetString(),
            video?.GetProperty("width").GetInt32() ?? 0,
            video?.GetProperty("height").GetInt32() ?? 0,
            video is { } v && v.TryGetProperty("pix_fmt", out var pix) ? pix.GetString() : null,
            video is { } v2 ? ParseRate(v2.GetProperty("avg_frame_rate").GetString()!) : 0,
            video is { } v3 && v3.TryGetProperty("nb_read_packets", out var packets) ? long.Parse(packets.GetString()!, CultureInfo.InvariantCulture) : null,
            audio?.GetProperty("codec_name").GetString(),
            audio is { } a && a.TryGetProperty("sample_rate", out var rate) ? int.Parse(rate.GetString()!, CultureInfo.InvariantCulture) : null,
            audio is { } a2 && a2.TryGetProperty("channels", out var channels) ? channels.GetInt32() : null,
            audio is { } a3 ? ParseDouble(a3, "duration") : null);
    }

    private static double? ParseDouble(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? double.Parse(value.GetString()!, CultureInfo.InvariantCulture)
            : null;

    private static double ParseRate(string rate)
    {
        var parts = rate.Split('/');
        var numerator = double.Parse(parts[0], CultureInfo.InvariantCulture);
        var denominator = parts.Length > 1 ? double.Parse(parts[1], CultureInfo.InvariantCulture) : 1;
        return denominator == 0 ? 0 : numerator / denominator;
    }
}
