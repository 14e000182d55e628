using System.Buffers.Binary;

namespace Kinema.Engines.Animatic;

/// <summary>
/// The preview's sound: a soft two-note chord per shot that changes at each cut (so the cuts are audible), with short
/// fades at every boundary, as 48 kHz stereo 16-bit PCM in a WAV file exactly as long as the video.
/// </summary>
internal static class ToneBed
{
    public const int SampleRate = 48_000;
    private static readonly int[] Semitones = [0, 3, 5, 7, 10, 12];

    public static async Task WriteAsync(string path, IReadOnlyList<ShotSegment> segments, int framesPerSecond, CancellationToken cancellationToken)
    {
        var totalFrames = segments[^1].EndFrame;
        var totalSamples = (int)((long)totalFrames * SampleRate / framesPerSecond);
        var data = new byte[totalSamples * 4];
        var fade = SampleRate / 50;
        foreach (var segment in segments)
        {
            var start = (int)((long)segment.StartFrame * SampleRate / framesPerSecond);
            var end = (int)((long)segment.EndFrame * SampleRate / framesPerSecond);
            var root = 220.0 * Math.Pow(2, Semitones[(segment.Number - 1) % Semitones.Length] / 12.0);
            var fifth = root * 1.5;
            for (var i = start; i < end; i++)
            {
                var t = (double)i / SampleRate;
                var envelope = Math.Min(1, Math.Min((i - start) / (double)fade, (end - i) / (double)fade));
                var tremolo = 0.85 + (0.15 * Math.Sin(2 * Math.PI * 2 * t));
                var left = envelope * tremolo * ((0.12 * Math.Sin(2 * Math.PI * root * t)) + (0.06 * Math.Sin(2 * Math.PI * fifth * t)));
                var right = envelope * tremolo * ((0.06 * Math.Sin(2 * Math.PI * root * t)) + (0.12 * Math.Sin(2 * Math.PI * fifth * t)));
                BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(i * 4), (short)(left * short.MaxValue));
                BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan((i * 4) + 2), (short)(right * short.MaxValue));
            }
        }

        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        await file.WriteAsync(Header(data.Length), cancellationToken);
        await file.WriteAsync(data, cancellationToken);
    }

    private static byte[] Header(int dataLength)
    {
        var header = new byte[44];
        "RIFF"u8.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), 36 + dataLength);
        "WAVEfmt "u8.CopyTo(header.AsSpan(8));
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), 16);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(20), 1);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(22), 2);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(24), SampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(28), SampleRate * 4);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(32), 4);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(34), 16);
        "data"u8.CopyTo(header.AsSpan(36));
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(40), dataLength);
        return header;
    }
}
