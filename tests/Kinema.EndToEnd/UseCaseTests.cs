using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;

namespace Kinema.EndToEnd;

/// <summary>Every published use case of the contract (spec section 2), plus elements and 4K, made for real.</summary>
public sealed class UseCaseTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const double FrameTolerance = 0.06;

    public static TheoryData<string, string, int, int, double, bool> PublishedCases => new()
    {
        // name, body, width, height, seconds, audio
        { "1 text-to-video std", """{"model":"kling-v3","prompt":"a golden retriever running on the beach, sunset, cinematic","mode":"std","duration":5,"aspect_ratio":"16:9"}""", 1280, 720, 5, false },
        { "2 pro + negative prompt", """{"model":"kling-v3","prompt":"a lighthouse in a storm, waves crashing","mode":"pro","duration":10,"negative_prompt":"blurry, low quality, distorted"}""", 1920, 1080, 10, false },
        { "3 fifteen seconds", """{"model":"kling-v3","prompt":"time-lapse of clouds over a mountain range","duration":15}""", 1280, 720, 15, false },
        { "6 audio", """{"model":"kling-v3","prompt":"a jazz band playing in a small club","audio":true}""", 1280, 720, 5, true },
        { "7 multi-shot storyboard", """
            {"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":15,"aspect_ratio":"9:16","audio":true,
             "multi_prompt":[{"index":1,"prompt":"Two friends talking under a streetlight at night.","duration":5},
                             {"index":2,"prompt":"A runner sprinting through a forest.","duration":5},
                             {"index":3,"prompt":"A sunset over mountains.","duration":5}]}
            """, 720, 1280, 15, true },
        { "4k", """{"model":"kling-v3","prompt":"a city skyline at dawn","mode":"4k","duration":3,"aspect_ratio":"16:9"}""", 3840, 2160, 3, false },
        { "square with watermark", """{"model":"kling-v3","prompt":"a teapot on a table","aspect_ratio":"1:1","duration":3,"watermark":true}""", 720, 720, 3, false },
    };

    [Theory]
    [MemberData(nameof(PublishedCases))]
    public async Task Published_case_completes_with_a_matching_video(string name, string body, int width, int height, double seconds, bool audio)
    {
        var report = await RunToCompletionAsync(body);

        report.VideoCodec.Should().Be("h264", name);
        report.PixelFormat.Should().Be("yuv420p");
        (report.Width, report.Height).Should().Be((width, height));
        report.FrameRate.Should().BeApproximately(24, 0.01);
        report.FrameCount.Should().Be((long)(seconds * 24));
        report.Duration.Should().BeApproximately(seconds, FrameTolerance);
        report.HasAudio.Should().Be(audio);
        if (audio)
        {
            report.AudioCodec.Should().Be("aac");
            report.AudioSampleRate.Should().Be(48000);
            report.AudioChannels.Should().Be(2);
            report.AudioDuration!.Value.Should().BeApproximately(seconds, FrameTolerance, "the sound lasts as long as the picture");
        }
    }

    [Fact]
    public async Task Image_to_video_with_first_frame_completes()
    {
        var body = $$"""{"model":"kling-v3","prompt":"the red wall slowly comes alive","image_urls":["{{fixture.Images.Url("first.jpg")}}"]}""";

        var report = await RunToCompletionAsync(body);

        (report.Width, report.Height).Should().Be((1280, 720));
        report.Duration.Should().BeApproximately(5, FrameTolerance);
    }

    [Fact]
    public async Task Image_to_video_with_first_and_last_frame_completes()
    {
        var body = $$"""
            {"model":"kling-v3","prompt":"red turns to blue","duration":4,
             "image_urls":["{{fixture.Images.Url("first.jpg")}}","{{fixture.Images.Url("last.png")}}"]}
            """;

        var report = await RunToCompletionAsync(body);

        report.Duration.Should().BeApproximately(4, FrameTolerance);
        report.FrameCount.Should().Be(96);
    }

    [Fact]
    public async Task Elements_are_accepted_and_rendered()
    {
        var body = $$"""
            {"model":"kling-v3","prompt":"@dog chasing @cat on grass","duration":3,
             "elements":[
               {"name":"dog","description":"a golden dog","element_input_urls":["{{fixture.Images.Url("dog.png")}}","{{fixture.Images.Url("dog.png")}}"]},
               {"name":"cat","description":"a grey cat","element_input_urls":["{{fixture.Images.Url("cat.png")}}","{{fixture.Images.Url("cat.png")}}"]}]}
            """;

        var report = await RunToCompletionAsync(body);

        report.Duration.Should().BeApproximately(3, FrameTolerance);
    }

    [Fact]
    public async Task Unreachable_image_fails_the_task_naming_the_field()
    {
        var body = $$"""{"model":"kling-v3","prompt":"x","duration":3,"image_urls":["{{fixture.Images.Url("missing.png")}}"]}""";
        var id = await fixture.Server.Alice.CreateAsync(body);

        var task = await fixture.Server.Alice.WaitForTerminalAsync(id);

        task.GetProperty("status").GetString().Should().Be("failed");
        task.GetProperty("error").GetProperty("message").GetString().Should().Contain("image_urls[0]");
        task.TryGetProperty("result", out _).Should().BeFalse();
    }

    [Fact]
    public async Task Completed_task_has_the_contract_shape()
    {
        var id = await fixture.Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"shape check","duration":3}""");
        var task = await fixture.Server.Alice.WaitForTerminalAsync(id);

        task.GetProperty("id").GetString().Should().Be(id);
        task.GetProperty("status").GetString().Should().Be("completed");
        task.GetProperty("progress").GetInt32().Should().Be(100);
        task.GetProperty("engine").GetString().Should().Be("animatic");
        var created = task.GetProperty("created").GetInt64();
        var completed = task.GetProperty("completed").GetInt64();
        completed.Should().BeGreaterThanOrEqualTo(created);
        task.GetProperty("actual_time").GetInt32().Should().Be((int)(completed - created));
        var video = task.GetProperty("result").GetProperty("videos")[0];
        video.GetProperty("url").ValueKind.Should().Be(JsonValueKind.Array);
        video.GetProperty("expires_at").GetInt64().Should().BeGreaterThan(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600);
        video.GetProperty("thumbnail_url").GetString().Should().Contain("poster.jpg");
        task.TryGetProperty("error", out _).Should().BeFalse();
    }

    private async Task<MediaReport> RunToCompletionAsync(string body)
    {
        var id = await fixture.Server.Alice.CreateAsync(body);
        var task = await fixture.Server.Alice.WaitForTerminalAsync(id);
        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        var path = await fixture.Server.Alice.DownloadVideoAsync(task, fixture.Downloads);
        return await Ffprobe.ProbeAsync(path);
    }
}
