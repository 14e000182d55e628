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

    [Fact]
    public async Task A_store_that_takes_connections_and_never_answers_is_out_of_reach_after_the_request_timeout()
    {
        // Accepts every connection and reads what is sent, but never answers: a hung store or a black-holing proxy.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var accepted = new List<System.Net.Sockets.Socket>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var socket = await listener.AcceptSocketAsync(stop.Token);
                lock (accepted)
                {
                    accepted.Add(socket);
                }

                _ = Task.Run(async () =>
                {
                    var buffer = new byte[1 << 16];
                    while (await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None) > 0)
                    {
                    }
                });
            }
        });
        var options = _fixture.Options();
        options.ServiceUrl = $"http://127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}";
        options.RequestTimeout = TimeSpan.FromSeconds(1);
        using var hung = new S3ResultStorage(options, TimeProvider.System);

        try
        {
            // The outer bound only keeps a regression from hanging the run; the SDK's own default would wait forever.
            var save = () => hung.SaveAsync("task_hung", "video.mp4", Scratch("video.mp4", 1000), CancellationToken.None)
                .WaitAsync(TimeSpan.FromSeconds(60));
            var find = () => hung.FindAsync("task_hung", "video.mp4", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

            (await save.Should().ThrowAsync<ResultStorageUnavailableException>()).Which.Message.Should().Contain("cannot store an object in");
            (await find.Should().ThrowAsync<ResultStorageUnavailableException>()).Which.Message.Should().Contain("cannot look up an object in");
            accepted.Should().NotBeEmpty("the requests reached the store and waited for an answer");
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
            lock (accepted)
            {
                accepted.ForEach(socket => socket.Dispose());
            }

            await accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
    }

    [Fact]
    public async Task A_download_read_for_longer_than_the_request_timeout_streams_to_its_end()
    {
        var options = _fixture.Options();
        options.RequestTimeout = TimeSpan.FromSeconds(1);
        using var bounded = new S3ResultStorage(options, TimeProvider.System);
        var source = Scratch("video.mp4", 6L * 1024 * 1024, seed: 7);
        await bounded.SaveAsync("task_slow_reader", "video.mp4", source, CancellationToken.None);
        var file = (await bounded.FindAsync("task_slow_reader", "video.mp4", CancellationToken.None))!;

        // A client on a slow link: 64 KiB every 40 ms, about 4 s for the whole object, four times the bound.
        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var body = await bounded.OpenReadAsync(file, 0, null, CancellationToken.None);
        using var copy = new MemoryStream();
        var buffer = new byte[1 << 16];
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            copy.Write(buffer, 0, read);
            await Task.Delay(40);
        }

        started.Elapsed.Should().BeGreaterThan(options.RequestTimeout * 2, "the read outlived the bound several times over");
        copy.ToArray().Should().Equal(await File.ReadAllBytesAsync(source));
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
