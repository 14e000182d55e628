using System.Diagnostics;
using System.Globalization;
using Kinema.Contracts.Requests;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Engines.Animatic;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Kinema.Bench;

/// <summary>
/// The animatic engine's wall time for a 720p 5 s clip with audio against ffmpeg alone encoding the very same frames
/// (drawn beforehand, fed from memory) with the same settings. The ratio is the engine's overhead: drawing, piping.
/// </summary>
internal static class RenderBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
        var options = new AnimaticOptions();
        var engine = new AnimaticEngine(Options.Create(options), NullLogger<AnimaticEngine>.Instance);
        var request = new GenerationRequest
        {
            Model = ModelNames.KlingV3,
            Prompt = "a golden retriever running on the beach, sunset, cinematic",
            Duration = 5,
            Audio = true,
        };
        var work = Path.Combine(Path.GetTempPath(), "kinema-bench-render", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var (width, height) = OutputFormat.SizeFor(request.Mode, request.AspectRatio);
            var segments = ShotPlan.For(request, OutputFormat.FramesPerSecond);
            var drawClock = Stopwatch.StartNew();
            var frames = PreDraw(width, height, segments, options);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"drawing {frames.Count} frames alone: {drawClock.Elapsed.TotalMilliseconds:F0} ms"));
            var audio = Path.Combine(work, "audio.wav");
            await ToneBed.WriteAsync(audio, segments, OutputFormat.FramesPerSecond, CancellationToken.None);

            var engineTimes = new List<double>();
            var ffmpegTimes = new List<double>();
            for (var run = 0; run < runs; run++)
            {
                // Alternate the two so drift in machine load hits both alike.
                ffmpegTimes.Add(await TimeFfmpegAloneAsync(frames, width, height, audio, Path.Combine(work, $"alone{run}.mp4"), options.Preset));
                var runDirectory = Path.Combine(work, $"engine{run}");
                Directory.CreateDirectory(runDirectory);
                var clock = Stopwatch.StartNew();
                await engine.RenderAsync(new EngineJob("task_bench", request, runDirectory, new NoImages(), new Progress<int>()), CancellationToken.None);
                engineTimes.Add(clock.Elapsed.TotalSeconds);
            }

            var engineMedian = Median(engineTimes);
            var ffmpegMedian = Median(ffmpegTimes);
            Console.WriteLine();
            Console.WriteLine($"animatic render, 720p 5 s with audio, preset {options.Preset}, median of {runs}");
            Console.WriteLine("| measurement | seconds (median) | ratio | goal |");
            Console.WriteLine("|---|---|---|---|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| ffmpeg alone encoding the same pre-drawn frames | {ffmpegMedian:F2} | 1.00× | |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| animatic engine (draw + pipe + encode + poster) | {engineMedian:F2} | {engineMedian / ffmpegMedian:F2}× | ≤ 1.2× |"));
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static List<byte[]> PreDraw(int width, int height, IReadOnlyList<ShotSegment> segments, AnimaticOptions options)
    {
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var composer = new FrameComposer(width, height, OutputFormat.FramesPerSecond, segments, null, null, [], false, options.FontPath, "bench");
        using var bitmap = new SKBitmap(info);
        using var canvas = new SKCanvas(bitmap);
        var frames = new List<byte[]>();
        for (var frame = 0; frame < segments[^1].EndFrame; frame++)
        {
            composer.Draw(canvas, frame);
            frames.Add(bitmap.GetPixelSpan().ToArray());
        }

        return frames;
    }

    private static async Task<double> TimeFfmpegAloneAsync(List<byte[]> frames, int width, int height, string audio, string output, string preset)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
                 {
                     "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgba", "-s", $"{width}x{height}", "-r", "24",
                     "-i", "pipe:0", "-i", audio, "-map", "0:v:0", "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", "-r", "24",
                     "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart", output,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var input = process.StandardInput.BaseStream;
        foreach (var frame in frames)
        {
            await input.WriteAsync(frame);
        }

        process.StandardInput.Close();
        await process.WaitForExitAsync();
        await stderr;
        return clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private sealed class NoImages : IImageSource
    {
        public Task<FetchedImage> LoadAsync(string fieldPath, string url, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the render benchmark uses no images");
    }
}
