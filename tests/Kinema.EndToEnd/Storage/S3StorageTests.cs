using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Storage.S3;
using Kinema.Testing;
using Microsoft.Extensions.Options;

namespace Kinema.EndToEnd.Storage;

/// <summary>One s3rver for the storage tests of the real server.</summary>
public sealed class S3ServerFixture : IAsyncLifetime
{
    internal S3rverProcess S3 { get; private set; } = null!;
    internal string Downloads { get; } = Path.Combine(Path.GetTempPath(), "kinema-e2e-downloads", Guid.NewGuid().ToString("N"));

    public async ValueTask InitializeAsync() => S3 = await S3rverProcess.StartAsync();

    public async ValueTask DisposeAsync()
    {
        await S3.DisposeAsync();
        if (Directory.Exists(Downloads))
        {
            Directory.Delete(Downloads, recursive: true);
        }
    }
}

/// <summary>The real server with <c>Kinema:Storage:Provider=s3</c>: results live in the bucket, never on the node.</summary>
public sealed class S3StorageTests(S3ServerFixture fixture) : IClassFixture<S3ServerFixture>
{
    private const string Body = """{"model":"kling-v3","prompt":"a lighthouse, results in a bucket","duration":3,"aspect_ratio":"16:9","audio":true}""";

    [Fact]
    public async Task Animatic_result_goes_to_the_bucket_and_is_served_through_the_signed_url_with_ranges()
    {
        await using var server = await KinemaTestServer.StartAsync(fixture.S3.KinemaSettings());
        var id = await server.Alice.CreateAsync(Body);
        var task = await server.Alice.WaitForTerminalAsync(id);
        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        var url = VideoUrl(task);

        var path = await server.Alice.DownloadVideoAsync(task, fixture.Downloads);
        var report = await Ffprobe.ProbeAsync(path);
        var bytes = await File.ReadAllBytesAsync(path);
        using var client = new HttpClient();
        using var partial = await SendAsync(client, HttpMethod.Get, url, new RangeHeaderValue(100, 1099));
        using var suffix = await SendAsync(client, HttpMethod.Get, url, new RangeHeaderValue(null, 10));
        using var beyond = await SendAsync(client, HttpMethod.Get, url, new RangeHeaderValue(bytes.Length, null));
        using var head = await SendAsync(client, HttpMethod.Head, url, null);
        using var poster = await client.GetAsync(task.GetProperty("result").GetProperty("videos")[0].GetProperty("thumbnail_url").GetString());

        url.Should().StartWith(server.BaseAddress.GetLeftPart(UriPartial.Authority) + "/files/" + id + "/video.mp4?");
        (report.VideoCodec, report.Width, report.Height, report.AudioCodec).Should().Be(("h264", 1280, 720, "aac"));
        report.Duration.Should().BeApproximately(3, 0.06);
        partial.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        partial.Headers.AcceptRanges.Should().Contain("bytes");
        partial.Content.Headers.ContentRange!.ToString().Should().Be($"bytes 100-1099/{bytes.Length}");
        (await partial.Content.ReadAsByteArrayAsync()).Should().Equal(bytes[100..1100]);
        suffix.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        (await suffix.Content.ReadAsByteArrayAsync()).Should().Equal(bytes[^10..]);
        beyond.StatusCode.Should().Be(HttpStatusCode.RequestedRangeNotSatisfiable);
        beyond.Content.Headers.ContentRange!.ToString().Should().Be($"bytes */{bytes.Length}");
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        head.Content.Headers.ContentLength.Should().Be(bytes.Length);
        head.Headers.ETag.Should().NotBeNull();
        head.Content.Headers.LastModified.Should().NotBeNull();
        poster.StatusCode.Should().Be(HttpStatusCode.OK);
        poster.Content.Headers.ContentType!.MediaType.Should().Be("image/jpeg");
        FilesUnder(server.Paths.Results).Should().BeEmpty("results live in the bucket");
        FilesUnder(server.Paths.Work).Should().BeEmpty("scratch is removed once uploaded");
        using var s3 = S3Client(server);
        var stored = await s3.GetObjectMetadataAsync(fixture.S3.Bucket, $"{id}/video.mp4");
        stored.ContentLength.Should().Be(bytes.Length);
        (await s3.GetObjectMetadataAsync(fixture.S3.Bucket, $"{id}/poster.jpg")).ContentType.Should().Be("image/jpeg");
    }

    [Fact]
    public async Task Presigned_urls_point_at_the_store_and_download_a_valid_mp4()
    {
        await using var server = await KinemaTestServer.StartAsync(fixture.S3.KinemaSettings(presignedUrls: true));
        var id = await server.Alice.CreateAsync(Body);
        var task = await server.Alice.WaitForTerminalAsync(id);
        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());

        var path = await server.Alice.DownloadVideoAsync(task, fixture.Downloads);
        var report = await Ffprobe.ProbeAsync(path);
        var video = task.GetProperty("result").GetProperty("videos")[0];
        using var client = new HttpClient();
        using var poster = await client.GetAsync(video.GetProperty("thumbnail_url").GetString());

        var store = fixture.S3.ServiceUrl.GetLeftPart(UriPartial.Authority);
        VideoUrl(task).Should().StartWith($"{store}/{fixture.S3.Bucket}/{id}/video.mp4?").And.Contain("X-Amz-Signature=");
        video.GetProperty("thumbnail_url").GetString().Should().StartWith($"{store}/{fixture.S3.Bucket}/{id}/poster.jpg?");
        video.GetProperty("expires_at").GetInt64().Should().BeCloseTo(DateTimeOffset.UtcNow.AddHours(24).ToUnixTimeSeconds(), 120);
        (report.VideoCodec, report.Width, report.Height, report.HasAudio).Should().Be(("h264", 1280, 720, true));
        poster.Content.Headers.ContentType!.MediaType.Should().Be("image/jpeg");
    }

    [Fact]
    public async Task Start_fails_naming_the_key_when_s3_has_no_bucket()
    {
        var settings = fixture.S3.KinemaSettings();
        settings.Remove("Kinema:Storage:S3:Bucket");

        var start = () => StartAndStopAsync(settings);

        (await start.Should().ThrowAsync<OptionsValidationException>())
            .Which.Message.Should().Contain("Kinema:Storage:S3:Bucket").And.NotContain(S3rverProcess.SecretKey);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("02:00:00")]
    public async Task Start_fails_naming_the_setting_for_a_request_timeout_out_of_range(string timeout)
    {
        var settings = fixture.S3.KinemaSettings();
        settings["Kinema:Storage:S3:RequestTimeout"] = timeout;

        var start = () => StartAndStopAsync(settings);

        (await start.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("RequestTimeout");
    }

    [Fact]
    public async Task Start_fails_naming_the_key_for_an_unknown_provider()
    {
        var start = () => StartAndStopAsync(new Dictionary<string, string?> { ["Kinema:Storage:Provider"] = "ftp" });

        (await start.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("Kinema:Storage:Provider");
    }

    private static async Task StartAndStopAsync(IDictionary<string, string?> settings)
    {
        var directory = Path.Combine(Path.GetTempPath(), "kinema-e2e", Guid.NewGuid().ToString("N"));
        try
        {
            await using var server = await KinemaTestServer.StartAsync(settings, directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string VideoUrl(JsonElement task) =>
        task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!;

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string url, RangeHeaderValue? range)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.Range = range;
        return await client.SendAsync(request);
    }

    private static string[] FilesUnder(string directory) =>
        Directory.Exists(directory) ? Directory.GetFiles(directory, "*", SearchOption.AllDirectories) : [];

    private static Amazon.S3.AmazonS3Client S3Client(KinemaTestServer server) =>
        S3ResultStorage.CreateClient(server.Services.GetRequiredService<IOptions<S3StorageOptions>>().Value);
}
