using System.Net;
using Kinema.Client;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace Kinema.EndToEnd.Sdk;

/// <summary>The .NET SDK against a real Kinema server on loopback.</summary>
public sealed class SdkTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private KinemaClient Client(string? key = null, Action<KinemaClientOptions>? configure = null)
    {
        var options = new KinemaClientOptions { BaseAddress = Server.BaseAddress, ApiKey = key ?? Server.AliceKey, PollInterval = TimeSpan.FromMilliseconds(200) };
        configure?.Invoke(options);
        return new KinemaClient(options);
    }

    public static TheoryData<string> Shapes => ["text", "image-first", "image-first-last", "storyboard", "intelligence", "elements", "4k"];

    private GenerationRequest Shape(string name, string pictureFile) => name switch
    {
        "text" => GenerationRequests.TextToVideo("a kite over a hill", duration: 3) with { NegativePrompt = "blurry", Watermark = true },
        "image-first" => GenerationRequests.ImageToVideo("the wall comes alive", pictureFile, duration: 3),
        "image-first-last" => GenerationRequests.ImageToVideo("red to blue", pictureFile, fixture.Images.Url("last.png"), duration: 3),
        "storyboard" => GenerationRequests.Storyboard([("A quiet forest.", 1), ("A busy street.", 2)], AspectRatios.Portrait) with { Audio = true },
        "intelligence" => new GenerationRequest { Model = ModelNames.KlingV3, MultiShot = true, ShotType = ShotTypes.Intelligence, Prompt = "One. Two.", Duration = 3 },
        "elements" => GenerationRequests.TextToVideo("@dog plays", duration: 3) with
        {
            Elements = [GenerationRequests.Element("dog", "a golden dog", pictureFile, fixture.Images.Url("dog.png"))],
        },
        "4k" => GenerationRequests.TextToVideo("a skyline", duration: 3, mode: GenerationModes.UltraHd),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Every_request_shape_round_trips_to_the_store_and_completes(string shape)
    {
        var picture = Path.Combine(fixture.Downloads, $"{shape}.png");
        Directory.CreateDirectory(fixture.Downloads);
        await File.WriteAllBytesAsync(picture, TestImages.Solid(320, 240, SKColors.Crimson));
        var request = Shape(shape, picture);
        using var client = Client();

        var operation = await client.CreateAsync(request);
        var stored = await Server.Services.GetRequiredService<ITaskStore>().GetAsync("alice", operation.Id, CancellationToken.None);
        var task = await operation.WaitForCompletionAsync();

        GenerationRequestRules.ToJson(stored!.Request).Should().Be(GenerationRequestRules.ToJson(request));
        task.Status.Should().Be("completed");
        task.Engine.Should().Be("animatic");
    }

    [Fact]
    public async Task Wait_reports_monotonic_progress_and_download_gives_a_real_video()
    {
        using var client = Client();
        var seen = new List<TaskStatusData>();

        var operation = await client.CreateAsync(GenerationRequests.TextToVideo("progress check", duration: 6) with { Mode = GenerationModes.Professional });
        var task = await operation.WaitForCompletionAsync(new SyncProgress<TaskStatusData>(seen.Add));
        var path = await client.DownloadAsync(task, Path.Combine(fixture.Downloads, "sdk.mp4"));

        seen.Select(t => t.Progress).Should().BeInAscendingOrder();
        seen.Count.Should().BeGreaterThan(2);
        seen[^1].Status.Should().Be("completed");
        var report = await Ffprobe.ProbeAsync(path);
        (report.Width, report.Height).Should().Be((1920, 1080));
        report.FrameCount.Should().Be(144);
    }

    [Fact]
    public async Task Cancelling_the_token_stops_the_wait()
    {
        using var client = Client();
        var operation = await client.CreateAsync(GenerationRequests.TextToVideo("a long one", duration: 15) with { Mode = GenerationModes.Professional });
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var act = () => operation.WaitForCompletionAsync(cancellationToken: cancellation.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        await client.CancelAsync(operation.Id);
    }

    [Fact]
    public async Task A_failed_task_surfaces_as_the_typed_exception_with_its_reason()
    {
        using var client = Client();
        var operation = await client.CreateAsync(GenerationRequests.ImageToVideo("x", fixture.Images.Url("missing.png"), duration: 3));

        var act = () => operation.WaitForCompletionAsync();

        var failure = (await act.Should().ThrowAsync<KinemaTaskFailedException>()).Which;
        failure.FailureCode.Should().Be("image_fetch_failed");
        failure.Task.Status.Should().Be("failed");
        failure.Message.Should().Contain("image_urls[0]");
    }

    [Fact]
    public async Task Rule_violations_are_caught_before_any_request()
    {
        using var client = Client(configure: o => o.BaseAddress = new Uri("http://127.0.0.1:9"));

        var act = () => client.CreateAsync(GenerationRequests.TextToVideo("x", duration: 20));

        var error = (await act.Should().ThrowAsync<KinemaException>()).Which;
        error.Status.Should().Be(400);
        error.Param.Should().Be("duration");
        error.Message.Should().Contain("3 to 15");
    }

    [Fact]
    public async Task Server_errors_carry_status_type_and_message()
    {
        using var client = Client("kin_wrong");

        var act = () => client.GetAsync("task_01K8SGYNNNVBQTXNR4MM964S7K");

        var error = (await act.Should().ThrowAsync<KinemaException>()).Which;
        error.Status.Should().Be(401);
        error.ErrorType.Should().Be("authentication_error");
        error.RequestId.Should().NotBeNullOrEmpty("the server names every request in X-Request-Id");
        error.Message.Should().Contain("API key");
    }

    [Fact]
    public async Task A_create_retried_after_a_lost_answer_makes_one_task()
    {
        var dropper = new DropFirstAnswer();
        await using var provider = ClientThrough(dropper);
        var client = provider.GetRequiredService<KinemaClient>();
        var prompt = "exactly once " + Guid.NewGuid();

        var operation = await client.CreateAsync(GenerationRequests.TextToVideo(prompt, duration: 3), idempotencyKey: Guid.NewGuid().ToString());

        dropper.Sent.Should().Be(2, "the first answer was lost and the create was retried");
        var tasks = await Server.Services.GetRequiredService<ITaskStore>().ListAsync("bob", new TaskQuery(100), CancellationToken.None);
        tasks.Tasks.Count(t => t.Request.Prompt == prompt).Should().Be(1);
        tasks.Tasks.Single(t => t.Request.Prompt == prompt).Id.Should().Be(operation.Id);
    }

    [Fact]
    public async Task A_create_without_idempotency_key_is_never_retried()
    {
        var dropper = new DropFirstAnswer();
        await using var provider = ClientThrough(dropper);
        var client = provider.GetRequiredService<KinemaClient>();

        var act = () => client.CreateAsync(GenerationRequests.TextToVideo("no key", duration: 3));

        (await act.Should().ThrowAsync<KinemaException>()).Which.Status.Should().Be(0);
        dropper.Sent.Should().Be(1);
    }

    [Fact]
    public async Task Download_resumes_with_range_when_cut_off()
    {
        using var client = Client();
        var task = await (await client.CreateAsync(GenerationRequests.TextToVideo("resume me", duration: 3))).WaitForCompletionAsync();
        var cutter = new CutFirstBody(50_000);
        using var flaky = new KinemaClient(new HttpClient(cutter) { BaseAddress = Server.BaseAddress },
            new KinemaClientOptions { BaseAddress = Server.BaseAddress, ApiKey = Server.AliceKey });

        var path = await flaky.DownloadAsync(task, Path.Combine(fixture.Downloads, "resumed.mp4"));

        cutter.RangeRequests.Should().ContainSingle().Which.Should().Be("bytes=50000-");
        using var direct = new HttpClient();
        var expected = await direct.GetByteArrayAsync(task.Result!.Videos[0].Url[0]);
        (await File.ReadAllBytesAsync(path)).Should().Equal(expected);
    }

    [Fact]
    public async Task List_pages_through_a_tenants_tasks_newest_first()
    {
        var key = (await Server.Services.GetRequiredService<Kinema.Core.Tenants.IApiKeyStore>().CreateAsync("lister", null, CancellationToken.None)).Key;
        using var client = Client(key);
        var ids = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add((await client.CreateAsync(GenerationRequests.TextToVideo($"list {i}", duration: 3))).Id);
        }

        var listed = new List<string>();
        await foreach (var task in client.ListAsync(new TaskListFilter { PageSize = 3 }))
        {
            listed.Add(task.Id);
        }

        listed.Should().Equal(Enumerable.Reverse(ids));
        foreach (var id in ids)
        {
            await client.CancelAsync(id).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    [Fact]
    public async Task An_uploaded_picture_becomes_the_first_frame_of_a_task()
    {
        using var client = Client();
        using var picture = new MemoryStream(TestImages.Solid(640, 360, SKColors.MediumPurple));

        var upload = await client.UploadImageAsync(picture, "purple.png");
        var task = await (await client.CreateAsync(GenerationRequests.ImageToVideo("the purple wall", upload.Url, duration: 3))).WaitForCompletionAsync();

        upload.Url.Should().Contain("/files/upl_");
        (upload.ContentType, upload.Width, upload.Height, upload.Filename).Should().Be(("image/png", 640, 360, "purple.png"));
        upload.ExpiresAt.Should().BeGreaterThan(DateTimeOffset.UtcNow.AddHours(71).ToUnixTimeSeconds());
        task.Status.Should().Be("completed");
        var stored = await Server.Services.GetRequiredService<ITaskStore>().GetAsync("alice", task.Id, CancellationToken.None);
        stored!.Request.ImageUrls.Should().Equal(upload.Url);
    }

    [Fact]
    public async Task An_upload_that_is_not_a_picture_is_a_typed_400_naming_the_field()
    {
        using var client = Client();
        using var text = new MemoryStream("not a picture"u8.ToArray());

        var refused = await FluentActions.Awaiting(() => client.UploadImageAsync(text, "notes.txt")).Should().ThrowAsync<KinemaException>();

        refused.Which.Status.Should().Be(400);
        refused.Which.Param.Should().Be("file");
    }

    [Fact]
    public async Task Models_balance_and_the_ledger_read_through_the_sdk()
    {
        var tenant = "sdk-ledger-" + Guid.NewGuid().ToString("N")[..8];
        var key = await Server.Services.GetRequiredService<Kinema.Core.Tenants.IApiKeyStore>().CreateAsync("sdk-ledger", tenant, CancellationToken.None);
        var billing = Server.Services.GetRequiredService<Kinema.Core.Billing.IBillingStore>();
        foreach (var amount in new long[] { 40, 25, 10 })
        {
            await billing.AddCreditsAsync(tenant, amount, null, $"grant {amount}", CancellationToken.None);
        }

        using var client = Client(key.Key);

        var models = await client.ListModelsAsync();
        var balance = await client.GetBalanceAsync();
        var ledger = new List<UsageEntry>();
        await foreach (var entry in client.ListUsageAsync(pageSize: 1))
        {
            ledger.Add(entry);
        }

        models.Should().Contain(m => m.Id == ModelNames.KlingV3 && m.Engines.Contains("animatic"));
        (balance.TenantId, balance.Balance).Should().Be((tenant, 75));
        ledger.Select(e => (e.Kind, e.Amount, e.BalanceAfter, e.Note)).Should().Equal(
            ("grant", 10, 75, "grant 10"), ("grant", 25, 65, "grant 25"), ("grant", 40, 40, "grant 40"));
    }

    [Fact]
    public async Task Readme_snippet_runs_as_written()
    {
        var path = await ReadmeSample.RunAsync(Server.BaseAddress, Server.AliceKey, Path.Combine(fixture.Downloads, "readme.mp4"));

        var report = await Ffprobe.ProbeAsync(path);
        report.HasAudio.Should().BeTrue();
        report.Duration.Should().BeApproximately(5, 0.06);
        var readme = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "README.md"));
        var source = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "tests/Kinema.EndToEnd/Sdk/ReadmeSample.cs"));
        var snippet = source[(source.IndexOf("// README:BEGIN", StringComparison.Ordinal) + "// README:BEGIN".Length)..source.IndexOf("// README:END", StringComparison.Ordinal)];
        Normalise(readme).Should().Contain(Normalise(snippet), "README.md shows the snippet this test runs");
    }

    /// <summary>A DI-built client (the AddKinemaClient path, with its retry policy) whose requests pass through <paramref name="handler"/>.</summary>
    private ServiceProvider ClientThrough(DelegatingHandler handler)
    {
        var services = new ServiceCollection();
        services.AddKinemaClient(o =>
        {
            o.BaseAddress = Server.BaseAddress;
            o.ApiKey = Server.BobKey;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
        }).AddHttpMessageHandler(() => handler);
        return services.BuildServiceProvider();
    }

    private static string Normalise(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Lets the first create reach the server, then loses its answer, as a dropped connection would.</summary>
    private sealed class DropFirstAnswer : DelegatingHandler
    {
        private int _sent;

        public int Sent => _sent;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Post && Interlocked.Increment(ref _sent) == 1)
            {
                response.Dispose();
                throw new HttpRequestException("connection reset after the request was sent");
            }

            return response;
        }
    }

    /// <summary>Cuts the first download after some bytes; records the Range of later requests.</summary>
    private sealed class CutFirstBody(int cutAfter) : DelegatingHandler(new SocketsHttpHandler())
    {
        private bool _cut;

        public List<string> RangeRequests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Headers.Range is { } range)
            {
                RangeRequests.Add(range.ToString());
            }

            var response = await base.SendAsync(request, cancellationToken);
            if (!_cut && request.RequestUri!.AbsolutePath.EndsWith(".mp4", StringComparison.Ordinal))
            {
                _cut = true;
                var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
                var content = new StreamContent(new CuttingStream(bytes, cutAfter));
                content.Headers.ContentLength = bytes.Length;
                content.Headers.ContentType = response.Content.Headers.ContentType;
                response.Content = content;
            }

            return response;
        }
    }

    /// <summary>Serves bytes until <c>cutAfter</c>, then fails as a dropped connection does.</summary>
    private sealed class CuttingStream(byte[] bytes, int cutAfter) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => bytes.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= cutAfter)
            {
                throw new IOException("the connection was cut");
            }

            var count = Math.Min(buffer.Length, Math.Min(cutAfter, bytes.Length) - _position);
            bytes.AsSpan(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
