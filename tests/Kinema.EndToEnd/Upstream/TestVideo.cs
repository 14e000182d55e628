using System.Diagnostics;

namespace Kinema.EndToEnd.Upstream;

/// <summary>A small real MP4 (640×360, 2 s, H.264 + AAC) for the fake upstreams to serve, made once with ffmpeg.</summary>
internal static class TestVideo
{
    private static readonly Lazy<Task<byte[]>> Bytes = new(MakeAsync);

    public static Task<byte[]> GetAsync() => Bytes.Value;

    private static async Task<byte[]> MakeAsync()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kinema-upstream-{Guid.NewGuid():N}.mp4");
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
                 {
                     "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                     "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        await process.WaitForExitAsync();
        var bytes = await File.ReadAllBytesAsync(path);
        File.Delete(path);
        return bytes;
    }
}
