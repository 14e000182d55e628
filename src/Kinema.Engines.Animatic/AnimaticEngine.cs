using System.Globalization;
using Kinema.Contracts.Requests;
using Kinema.Core.Engines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Kinema.Engines.Animatic;

/// <summary>
/// The built-in engine: a real H.264/AAC MP4 preview of the request — its timing, shots, first and last frames, aspect
/// ratio, resolution, audio and watermark — drawn with SkiaSharp and encoded by ffmpeg, offline and in seconds.
/// It is a preview, and says so on every frame and in every task (<c>engine: animatic</c>).
/// </summary>
internal sealed partial class AnimaticEngine(IOptions<AnimaticOptions> options, ILogger<AnimaticEngine> logger) : IVideoEngine
{
    public const string EngineName = "animatic";
    private readonly AnimaticOptions _options = options.Value;

    public string Name => EngineName;

    public async Task<RenderedVideo> RenderAsync(EngineJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var request = job.Request;
        var fps = OutputFormat.FramesPerSecond;
        var (width, height) = OutputFormat.SizeFor(request.Mode, request.AspectRatio);
        var segments = ShotPlan.For(request, fps);
        var totalFrames = segments[^1].EndFrame;
        var videoPath = Path.Combine(job.WorkingDirectory, "video.mp4");
        var posterPath = Path.Combine(job.WorkingDirectory, "poster.jpg");
        var audioPath = Path.Combine(job.WorkingDirectory, "audio.wav");
        LogStarted(logger, job.TaskId, width, height, totalFrames, segments.Count);

        var pictures = await LoadPicturesAsync(job, cancellationToken);
        try
        {
            if (request.Audio)
            {
                await ToneBed.WriteAsync(audioPath, segments, fps, cancellationToken);
            }

            var label = $"ANIMATIC PREVIEW · {request.Model} {request.Mode}";
            using var composer = new FrameComposer(width, height, fps, segments, pictures.First, pictures.Last, pictures.Elements,
                request.Watermark, _options.FontPath, label);
            await EncodeAsync(composer, job, width, height, totalFrames, request.Audio ? audioPath : null, videoPath, posterPath, cancellationToken);
        }
        catch
        {
            TryDelete(videoPath);
            throw;
        }
        finally
        {
            pictures.Dispose();
            TryDelete(audioPath);
        }

        job.Progress.Report(100);
        return new RenderedVideo(videoPath, posterPath, width, height, totalFrames / (double)fps, request.Audio);
    }

    private async Task EncodeAsync(
        FrameComposer composer, EngineJob job, int width, int height, int totalFrames, string? audioPath, string videoPath,
        string posterPath, CancellationToken cancellationToken)
    {
        var mode = job.Request.Mode;
        var arguments = new List<string>
        {
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgba", "-s", $"{width}x{height}", "-r", OutputFormat.FramesPerSecond.ToString(CultureInfo.InvariantCulture),
            "-i", "pipe:0",
        };
        if (audioPath is not null)
        {
            arguments.AddRange(["-i", audioPath]);
        }

        arguments.AddRange([
            "-map", "0:v:0",
            "-c:v", "libx264", "-preset", mode == GenerationModes.UltraHd ? _options.UltraHdPreset : _options.Preset,
            "-pix_fmt", "yuv420p", "-r", OutputFormat.FramesPerSecond.ToString(CultureInfo.InvariantCulture),
        ]);
        // No -frames:v or -shortest: exactly totalFrames frames are written and the tone bed is exactly as long, and
        // either option makes ffmpeg close the file before the audio encoder has caught up (~0.8 s of sound lost).
        if (audioPath is not null)
        {
            arguments.AddRange(["-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]);
        }
        else
        {
            arguments.Add("-an");
        }

        arguments.AddRange(["-movflags", "+faststart", videoPath]);

        FfmpegProcess ffmpeg;
        try
        {
            ffmpeg = FfmpegProcess.Start(_options.FfmpegPath, arguments);
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new EngineFailureException("render_failed",
                $"the animatic engine needs ffmpeg, which is not installed on the server ({exception.Message})");
        }

        await using (ffmpeg)
        {
            // Two frame buffers: one is drawn while the other is written to ffmpeg, so drawing hides behind encoding.
            var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
            // Pinned buffers the bitmaps draw straight into and ffmpeg is fed straight from: no copy per frame.
            var frontPixels = GC.AllocateUninitializedArray<byte>(info.BytesSize, pinned: true);
            var backPixels = GC.AllocateUninitializedArray<byte>(info.BytesSize, pinned: true);
            using var front = new SKBitmap();
            using var back = new SKBitmap();
            front.InstallPixels(info, System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(frontPixels, 0), info.RowBytes);
            back.InstallPixels(info, System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(backPixels, 0), info.RowBytes);
            using var frontCanvas = new SKCanvas(front);
            using var backCanvas = new SKCanvas(back);
            Task pending = Task.CompletedTask;
            var lastReported = -1;
            try
            {
                for (var frame = 0; frame < totalFrames; frame++)
                {
                    var (bitmap, canvas, pixels) = frame % 2 == 0 ? (front, frontCanvas, frontPixels) : (back, backCanvas, backPixels);
                    composer.Draw(canvas, frame);
                    canvas.Flush();
                    if (frame == 0)
                    {
                        WritePoster(bitmap, posterPath);
                    }

                    await pending;
                    pending = ffmpeg.Input.WriteAsync(pixels.AsMemory(), cancellationToken).AsTask();
                    var percent = (int)((frame + 1) * 99L / totalFrames);
                    if (percent != lastReported)
                    {
                        lastReported = percent;
                        job.Progress.Report(percent);
                    }
                }

                await pending;
                var exitCode = await ffmpeg.FinishAsync(cancellationToken);
                if (exitCode != 0)
                {
                    throw new EngineFailureException("render_failed", $"ffmpeg failed (exit {exitCode}): {Tail(ffmpeg.StderrTail)}");
                }
            }
            catch (IOException exception)
            {
                // ffmpeg closed its input early: it died; its stderr says why.
                await Task.Delay(100, CancellationToken.None);
                throw new EngineFailureException("render_failed", $"ffmpeg stopped reading frames: {Tail(ffmpeg.StderrTail)}", exception);
            }
        }
    }

    private static void WritePoster(SKBitmap bitmap, string path)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 85);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    private static async Task<LoadedPictures> LoadPicturesAsync(EngineJob job, CancellationToken cancellationToken)
    {
        var request = job.Request;
        var pictures = new LoadedPictures();
        try
        {
            if (request.ImageUrls.Count > 0)
            {
                pictures.First = await DecodeAsync(job, "image_urls[0]", request.ImageUrls[0], cancellationToken);
            }

            if (request.ImageUrls.Count > 1)
            {
                pictures.Last = await DecodeAsync(job, "image_urls[1]", request.ImageUrls[1], cancellationToken);
            }

            for (var i = 0; i < request.Elements.Count; i++)
            {
                var element = request.Elements[i];
                var image = await DecodeAsync(job, $"elements[{i}].element_input_urls[0]", element.ElementInputUrls[0], cancellationToken);
                pictures.Elements.Add(new ElementPicture(element.Name, image));
            }

            return pictures;
        }
        catch
        {
            pictures.Dispose();
            throw;
        }
    }

    private static async Task<SKImage> DecodeAsync(EngineJob job, string field, string url, CancellationToken cancellationToken)
    {
        var fetched = await job.Images.LoadAsync(field, url, cancellationToken);
        return SKImage.FromEncodedData(fetched.Bytes)
               ?? throw new EngineFailureException("image_fetch_failed", $"{field}: the image cannot be decoded");
    }

    private static string Tail(string text) => text.Length > 600 ? "…" + text[^600..] : text;

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    private sealed class LoadedPictures : IDisposable
    {
        public SKImage? First { get; set; }
        public SKImage? Last { get; set; }
        public List<ElementPicture> Elements { get; } = [];

        public void Dispose()
        {
            First?.Dispose();
            Last?.Dispose();
            foreach (var element in Elements)
            {
                element.Image.Dispose();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Task {TaskId}: rendering {Width}x{Height}, {Frames} frames, {Shots} shots")]
    private static partial void LogStarted(ILogger logger, string taskId, int width, int height, int frames, int shots);
}
