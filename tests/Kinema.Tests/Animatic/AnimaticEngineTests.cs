using System.Diagnostics;
using Kinema.Contracts.Requests;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Engines.Animatic;
using Kinema.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Kinema.Tests.Animatic;

/// <summary>The animatic engine rendering real videos with real ffmpeg, each checked with ffprobe and by its pixels.</summary>
public sealed class AnimaticEngineTests : IDisposable
{
    private static readonly SKColor Red = new(230, 30, 30);
    private static readonly SKColor Blue = new(30, 40, 230);
    private readonly TempDirectory _directory = new();
    private readonly AnimaticEngine _engine = new(Options.Create(new AnimaticOptions()), NullLogger<AnimaticEngine>.Instance);

    private async Task<(RenderedVideo Video, MediaReport Report, List<int> Progress)> RenderAsync(GenerationRequest request)
    {
        var work = Path.Combine(_directory.Path, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        var progress = new List<int>();
        var video = await _engine.RenderAsync(
            new EngineJob("task_test", request, work, new DataUriImages(), new SyncProgress(progress.Add)), CancellationToken.None);
        return (video, await Ffprobe.ProbeAsync(video.VideoPath), progress);
    }

    private static GenerationRequest Request(string prompt = "a lighthouse at dusk", int duration = 3) =>
        new() { Model = ModelNames.KlingV3, Prompt = prompt, Duration = duration };

    [Fact]
    public async Task Text_to_video_is_h264_720p_24fps_exact_to_the_frame_without_audio()
    {
        var (video, report, progress) = await RenderAsync(Request());

        report.VideoCodec.Should().Be("h264");
        report.PixelFormat.Should().Be("yuv420p");
        (report.Width, report.Height).Should().Be((1280, 720));
        report.FrameRate.Should().Be(24);
        report.FrameCount.Should().Be(72);
        report.Duration.Should().BeApproximately(3.0, 0.05);
        report.HasAudio.Should().BeFalse();
        video.HasAudio.Should().BeFalse();
        progress.Should().BeInAscendingOrder().And.EndWith(100);
        progress.Count.Should().BeGreaterThan(10, "progress is reported while rendering, not only at the end");
        File.Exists(video.PosterPath).Should().BeTrue();
        using var poster = SKBitmap.Decode(video.PosterPath);
        (poster.Width, poster.Height).Should().Be((1280, 720));
    }

    [Fact]
    public async Task Audio_is_aac_48khz_stereo_as_long_as_the_video()
    {
        var (_, report, _) = await RenderAsync(Request() with { Audio = true, Duration = 4 });

        report.AudioCodec.Should().Be("aac");
        report.AudioSampleRate.Should().Be(48000);
        report.AudioChannels.Should().Be(2);
        report.AudioDuration!.Value.Should().BeApproximately(4.0, 0.05);
        report.FrameCount.Should().Be(96);
    }

    [Theory]
    [InlineData("std", "9:16", 720, 1280)]
    [InlineData("std", "1:1", 720, 720)]
    [InlineData("pro", "16:9", 1920, 1080)]
    public async Task Size_follows_mode_and_aspect_ratio(string mode, string ratio, int width, int height)
    {
        var (video, report, _) = await RenderAsync(Request() with { Mode = mode, AspectRatio = ratio });

        (report.Width, report.Height).Should().Be((width, height));
        (video.Width, video.Height).Should().Be((width, height));
    }

    [Fact]
    public async Task First_frame_opens_the_clip_with_the_picture()
    {
        var request = Request() with { ImageUrls = [TestImages.DataUri(TestImages.Solid(640, 480, Red))] };

        var (video, _, _) = await RenderAsync(request);

        var first = await FrameAsync(video.VideoPath, 0);
        MeanColour(first, upperThird: false).Should().Match<SKColor>(c => c.Red > 180 && c.Blue < 90, "the picture fills the frame");
    }

    [Fact]
    public async Task First_and_last_frame_travel_from_one_picture_to_the_other()
    {
        var request = Request() with
        {
            ImageUrls = [TestImages.DataUri(TestImages.Solid(640, 360, Red)), TestImages.DataUri(TestImages.Solid(640, 360, Blue))],
        };

        var (video, report, _) = await RenderAsync(request);

        var first = MeanColour(await FrameAsync(video.VideoPath, 0), upperThird: true);
        var last = MeanColour(await FrameAsync(video.VideoPath, (int)report.FrameCount!.Value - 1), upperThird: true);
        first.Red.Should().BeGreaterThan(first.Blue);
        last.Blue.Should().BeGreaterThan(last.Red);
    }

    [Fact]
    public async Task Multi_shot_cuts_hard_exactly_at_the_shot_boundaries()
    {
        var request = new GenerationRequest
        {
            Model = ModelNames.KlingV3,
            MultiShot = true,
            ShotType = ShotTypes.Customize,
            Duration = 4,
            MultiPrompt = [new Shot(1, "A quiet forest.", 2), new Shot(2, "A busy city street at night.", 2)],
        };

        var (video, report, _) = await RenderAsync(request);

        report.FrameCount.Should().Be(96);
        var beforeCut = MeanColour(await FrameAsync(video.VideoPath, 47), upperThird: true);
        var afterCut = MeanColour(await FrameAsync(video.VideoPath, 48), upperThird: true);
        var withinShot = MeanColour(await FrameAsync(video.VideoPath, 46), upperThird: true);
        Distance(beforeCut, afterCut).Should().BeGreaterThan(3 * Distance(withinShot, beforeCut) + 20, "frame 48 is the first of shot 2");
    }

    [Fact]
    public async Task Watermark_marks_the_corner_only_when_asked()
    {
        var (plain, _, _) = await RenderAsync(Request("same prompt"));
        var (marked, _, _) = await RenderAsync(Request("same prompt") with { Watermark = true });

        var plainCorner = Corner(await FrameAsync(plain.VideoPath, 0));
        var markedCorner = Corner(await FrameAsync(marked.VideoPath, 0));
        Distance(plainCorner, markedCorner).Should().BeGreaterThan(30);
    }

    [Fact]
    public async Task Elements_mentioned_in_the_prompt_appear_as_insets()
    {
        var dog = TestImages.DataUri(TestImages.Solid(300, 300, new SKColor(250, 220, 0)));
        var baseline = Request("a dog runs");
        var withElement = Request("@dog runs") with { Elements = [new Element("dog", "a yellow dog", [dog, dog])] };

        var (plain, _, _) = await RenderAsync(baseline);
        var (inset, _, _) = await RenderAsync(withElement);

        using var plainFrame = await FrameAsync(plain.VideoPath, 0);
        using var insetFrame = await FrameAsync(inset.VideoPath, 0);
        var yellowish = CountPixels(insetFrame, c => c.Red > 200 && c.Green > 180 && c.Blue < 80);
        yellowish.Should().BeGreaterThan(CountPixels(plainFrame, c => c.Red > 200 && c.Green > 180 && c.Blue < 80) + 5000);
    }

    [Fact]
    public async Task Ultra_hd_renders_2160p()
    {
        var (_, report, _) = await RenderAsync(Request() with { Mode = GenerationModes.UltraHd, Duration = 3 });

        (report.Width, report.Height).Should().Be((3840, 2160));
        report.FrameCount.Should().Be(72);
    }

    [Fact]
    public async Task Cancellation_stops_ffmpeg_and_leaves_no_video()
    {
        var work = Path.Combine(_directory.Path, "cancel");
        Directory.CreateDirectory(work);
        using var cancellation = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p >= 10)
            {
                cancellation.Cancel();
            }
        });

        var act = () => _engine.RenderAsync(new EngineJob("task_cancel", Request(duration: 15) with { Mode = "pro" }, work, new DataUriImages(), progress), cancellation.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        File.Exists(Path.Combine(work, "video.mp4")).Should().BeFalse();
    }

    [Fact]
    public async Task An_image_that_cannot_be_fetched_fails_naming_its_field()
    {
        var work = Path.Combine(_directory.Path, "broken");
        Directory.CreateDirectory(work);
        var request = Request() with { ImageUrls = ["data:image/png;base64,AAAA"] };

        var act = () => _engine.RenderAsync(new EngineJob("task_x", request, work, new DataUriImages(), new SyncProgress(_ => { })), CancellationToken.None);

        (await act.Should().ThrowAsync<EngineFailureException>()).Which.Message.Should().StartWith("image_urls[0]");
    }

    private async Task<SKBitmap> FrameAsync(string video, int frame)
    {
        var png = Path.Combine(_directory.Path, $"{Guid.NewGuid():N}.png");
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-v", "error", "-i", video, "-vf", $"select=eq(n\\,{frame})", "-frames:v", "1", png })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        await process.WaitForExitAsync();
        process.ExitCode.Should().Be(0, await process.StandardError.ReadToEndAsync());
        return SKBitmap.Decode(png);
    }

    private static SKColor MeanColour(SKBitmap bitmap, bool upperThird)
    {
        long r = 0, g = 0, b = 0, n = 0;
        // The caption band sits at the bottom and the time code at the top left: sample the middle band.
        var top = upperThird ? bitmap.Height / 6 : bitmap.Height / 4;
        var bottom = upperThird ? bitmap.Height / 2 : bitmap.Height * 3 / 5;
        for (var y = top; y < bottom; y += 4)
        {
            for (var x = bitmap.Width / 4; x < bitmap.Width * 3 / 4; x += 4)
            {
                var c = bitmap.GetPixel(x, y);
                r += c.Red;
                g += c.Green;
                b += c.Blue;
                n++;
            }
        }

        return new SKColor((byte)(r / n), (byte)(g / n), (byte)(b / n));
    }

    private static SKColor Corner(SKBitmap bitmap)
    {
        long r = 0, g = 0, b = 0, n = 0;
        for (var y = bitmap.Height - 60; y < bitmap.Height - 20; y++)
        {
            for (var x = bitmap.Width - 260; x < bitmap.Width - 40; x++)
            {
                var c = bitmap.GetPixel(x, y);
                r += c.Red;
                g += c.Green;
                b += c.Blue;
                n++;
            }
        }

        return new SKColor((byte)(r / n), (byte)(g / n), (byte)(b / n));
    }

    private static int CountPixels(SKBitmap bitmap, Func<SKColor, bool> predicate)
    {
        var count = 0;
        for (var y = 0; y < bitmap.Height; y += 2)
        {
            for (var x = 0; x < bitmap.Width; x += 2)
            {
                if (predicate(bitmap.GetPixel(x, y)))
                {
                    count++;
                }
            }
        }

        return count;
    }

    private static double Distance(SKColor a, SKColor b) =>
        Math.Sqrt(Math.Pow(a.Red - b.Red, 2) + Math.Pow(a.Green - b.Green, 2) + Math.Pow(a.Blue - b.Blue, 2));

    public void Dispose() => _directory.Dispose();

    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }

    /// <summary>Decodes data URIs the way the real fetcher does, without a network.</summary>
    private sealed class DataUriImages : IImageSource
    {
        public Task<FetchedImage> LoadAsync(string fieldPath, string url, CancellationToken cancellationToken)
        {
            var bytes = Convert.FromBase64String(url[(url.IndexOf(',', StringComparison.Ordinal) + 1)..]);
            using var codec = SKCodec.Create(new MemoryStream(bytes))
                              ?? throw new EngineFailureException("image_fetch_failed", $"{fieldPath}: the image cannot be decoded");
            return Task.FromResult(new FetchedImage(bytes, "image/png", codec.Info.Width, codec.Info.Height));
        }
    }
}
