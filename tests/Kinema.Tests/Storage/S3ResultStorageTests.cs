using Kinema.Core.Storage;
using Kinema.Storage.S3;
using Kinema.Testing;

namespace Kinema.Tests.Storage;

/// <summary>One s3rver for the S3 storage tests.</summary>
public sealed class S3rverFixture : IAsyncLifetime
{
    internal S3rverProcess Server { get; private set; } = null!;

    internal S3StorageOptions Options(bool presignedUrls = false) => new()
    {
        ServiceUrl = Server.ServiceUrl.ToString(),
        Bucket = Server.Bucket,
        AccessKey = S3rverProcess.AccessKey,
        SecretKey = S3rverProcess.SecretKey,
        PresignedUrls = presignedUrls,
        // The smallest parts S3 allows, so the large-file test takes three of them.
        MultipartThresholdBytes = S3StorageOptions.MinPartBytes,
        PartSizeBytes = S3StorageOptions.MinPartBytes,
    };

    public async ValueTask InitializeAsync() => Server = await S3rverProcess.StartAsync();

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The storage contract on a real S3-protocol server, plus what only an object store does.</summary>
public sealed class S3ResultStorageTests : ResultStorageContractTests, IClassFixture<S3rverFixture>
{
    private readonly S3rverFixture _fixture;
    private readonly S3ResultStorage _storage;

    public S3ResultStorageTests(S3rverFixture fixture)
    {
        _fixture = fixture;
        _storage = new S3ResultStorage(fixture.Options(), TimeProvider.System);
    }

    private protected override IResultStorage Storage => _storage;

    [Fact]
    public async Task Objects_have_no_physical_path_but_an_etag()
    {
        await Storage.SaveAsync("task_s3", "video.mp4", Scratch("video.mp4", 10), CancellationToken.None);

        var file = await Storage.FindAsync("task_s3", "video.mp4", CancellationToken.None);

        file!.PhysicalPath.Should().BeNull();
        file.ETag.Should().StartWith("\"");
        file.LastModified.Should().NotBeNull();
        Storage.GetDirectLink("task_s3", "video.mp4", TimeSpan.FromHours(1)).Should().BeNull("presigned URLs are off");
    }

    [Fact]
    public async Task Presigned_link_downloads_the_object_from_the_store()
    {
        using var presigning = new S3ResultStorage(_fixture.Options(presignedUrls: true), TimeProvider.System);
        var source = Scratch("video.mp4", 4096);
        await presigning.SaveAsync("task_presigned", "video.mp4", source, CancellationToken.None);

        var link = presigning.GetDirectLink("task_presigned", "video.mp4", TimeSpan.FromHours(1))!;
        using var client = new HttpClient();
        using var response = await client.GetAsync(link.Url);

        link.Url.GetLeftPart(UriPartial.Authority).Should().Be(_fixture.Server.ServiceUrl.GetLeftPart(UriPartial.Authority));
        link.ExpiresAt.Should().BeCloseTo(DateTimeOffset.UtcNow.AddHours(1), TimeSpan.FromMinutes(1));
        response.StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("video/mp4");
        (await response.Content.ReadAsByteArrayAsync()).Should().Equal(await File.ReadAllBytesAsync(source));
    }

    [Fact]
    public void Presigned_links_are_capped_at_the_seven_days_S3_allows()
    {
        using var presigning = new S3ResultStorage(_fixture.Options(presignedUrls: true), TimeProvider.System);

        var link = presigning.GetDirectLink("task_long", "video.mp4", TimeSpan.FromDays(30))!;

        link.ExpiresAt.Should().BeCloseTo(DateTimeOffset.UtcNow.AddDays(7), TimeSpan.FromMinutes(1));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _storage.Dispose();
        }

        base.Dispose(disposing);
    }
}
