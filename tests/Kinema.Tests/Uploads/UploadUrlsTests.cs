using Kinema.Contracts.Rules;
using Kinema.Core;
using Kinema.Core.Engines;
using Kinema.Core.Storage;
using Kinema.Server.Results;
using Kinema.Server.Uploads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Kinema.Tests.Uploads;

/// <summary>How the server recognises its own upload links: by signature and tenant tag, never by host alone.</summary>
public sealed class UploadUrlsTests : IDisposable
{
    private const string Base = "http://127.0.0.1:8080";
    private static readonly string[] OwnHosts = ["127.0.0.1:8080"];
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private readonly TempDirectory _root = new();
    private readonly UploadUrls _uploads;

    public UploadUrlsTests()
    {
        var key = Enumerable.Repeat((byte)9, 32).ToArray();
        _uploads = new UploadUrls(new ResultUrlSigner(key, _time), new SigningKey(() => key), new DiskResultStorage(_root.Path), _time);
    }

    public void Dispose() => _root.Dispose();

    private async Task<string> UploadAsync(string tenant, byte[]? image = null)
    {
        var stored = await _uploads.SaveAsync(tenant, image ?? [1, 2, 3], "image/png", Path.Combine(_root.Path, "work"), CancellationToken.None);
        return _uploads.Link(stored, Base).Url;
    }

    [Fact]
    public async Task The_owner_tenants_link_is_accepted_for_72_hours_then_refused_as_expired()
    {
        var url = await UploadAsync("alice");

        _uploads.ForTenant("alice", OwnHosts).Check(url).Should().Be(OwnImageUrlVerdict.Valid);
        _time.Advance(TimeSpan.FromHours(72) + TimeSpan.FromSeconds(1));
        _uploads.ForTenant("alice", OwnHosts).Check(url)!.Reason.Should().Contain("expired");
    }

    [Fact]
    public async Task Another_tenant_cannot_use_the_link()
    {
        var url = await UploadAsync("alice");

        var verdict = _uploads.ForTenant("bob", OwnHosts).Check(url);

        verdict!.Accepted.Should().BeFalse();
        verdict.Reason.Should().Contain("tenant");
    }

    [Fact]
    public async Task A_tampered_link_on_the_servers_own_host_is_refused_and_elsewhere_left_to_the_address_rules()
    {
        var url = await UploadAsync("alice");
        var tampered = url.Replace("signature=", "signature=x", StringComparison.Ordinal);

        _uploads.ForTenant("alice", OwnHosts).Check(tampered)!.Reason.Should().Contain("signature");
        _uploads.ForTenant("alice", OwnHosts).Check(tampered.Replace("127.0.0.1:8080", "cdn.example.com", StringComparison.Ordinal))
            .Should().BeNull("a look-alike path on another host is somebody else's URL");
        _uploads.ForTenant("alice", OwnHosts).Check(url.Replace("127.0.0.1:8080", "kinema.example.com", StringComparison.Ordinal))
            .Should().Be(OwnImageUrlVerdict.Valid, "the signature, not the host, proves the link is the server's own");
    }

    [Theory]
    [InlineData("https://example.com/first.jpg")]
    [InlineData("http://127.0.0.1:8080/files/task_01KB0000000000000000000000/video.mp4?expires=1&signature=x")]
    [InlineData("http://127.0.0.1:8080/v1/models")]
    public void Other_urls_are_not_the_servers_own(string url) =>
        _uploads.ForTenant("alice", OwnHosts).Check(url).Should().BeNull();

    [Fact]
    public async Task The_fetcher_reads_an_authentic_link_from_storage_even_after_expiry_but_not_a_forged_one()
    {
        var url = await UploadAsync("alice", [7, 7, 7]);
        _time.Advance(TimeSpan.FromDays(4));

        (await _uploads.TryReadAsync("image_urls[0]", url, 1024, CancellationToken.None)).Should().Equal(7, 7, 7);
        (await _uploads.TryReadAsync("image_urls[0]", url + "x", 1024, CancellationToken.None)).Should().BeNull();
        var tooSmall = () => _uploads.TryReadAsync("image_urls[0]", url, 2, CancellationToken.None);
        (await tooSmall.Should().ThrowAsync<EngineFailureException>()).Which.Message.Should().StartWith("image_urls[0]");
    }

    [Fact]
    public async Task The_janitor_deletes_uploads_past_their_retention_and_nothing_else()
    {
        var storage = new DiskResultStorage(_root.Path);
        var now = _time.GetUtcNow();
        var expired = "upl_" + Ulid(now - TimeSpan.FromDays(8)) + "0123456789abcdef";
        var kept = "upl_" + Ulid(now - TimeSpan.FromDays(6)) + "0123456789abcdef";
        var oldResult = "task_" + Ulid(now - TimeSpan.FromDays(400));
        var scratch = Path.Combine(_root.Path, "scratch.png");
        await File.WriteAllBytesAsync(scratch, [1, 2, 3]);
        foreach (var id in new[] { expired, kept, oldResult })
        {
            await storage.SaveAsync(id, "image.png", scratch, CancellationToken.None);
        }

        var janitor = new UploadJanitor(storage, Options.Create(new UploadOptions { Retention = TimeSpan.FromDays(7) }), _time,
            NullLogger<UploadJanitor>.Instance);

        (await janitor.SweepAsync(CancellationToken.None)).Should().Be(1);
        (await storage.FindAsync(expired, "image.png", CancellationToken.None)).Should().BeNull();
        (await storage.FindAsync(kept, "image.png", CancellationToken.None)).Should().NotBeNull();
        (await storage.FindAsync(oldResult, "image.png", CancellationToken.None)).Should().NotBeNull("results are never swept");
        _time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        (await janitor.SweepAsync(CancellationToken.None)).Should().Be(1);
        (await storage.FindAsync(kept, "image.png", CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task The_janitor_reports_storage_out_of_reach_in_one_line_without_a_stack_trace()
    {
        // A real S3 storage aimed at a loopback port nothing listens on: every listing is refused.
        using var unreachable = new Kinema.Storage.S3.S3ResultStorage(new Kinema.Storage.S3.S3StorageOptions
        {
            ServiceUrl = "http://127.0.0.1:9",
            Bucket = "kinema",
            AccessKey = "key",
            SecretKey = "secret",
        }, TimeProvider.System);
        var logger = new RecordingLogger<UploadJanitor>();
        var janitor = new UploadJanitor(unreachable, Options.Create(new UploadOptions()), _time, logger);

        await janitor.StartAsync(CancellationToken.None);
        var entry = await logger.FirstEntry.WaitAsync(TimeSpan.FromMinutes(1));
        await janitor.StopAsync(CancellationToken.None);

        entry.Level.Should().Be(LogLevel.Warning);
        entry.Exception.Should().BeNull("an unreachable store is an expected, repeated condition, not a bug to trace");
        entry.Message.Should().Contain("out of reach").And.Contain("ResultStorageUnavailableException").And.Contain("Connection refused").And.NotContain(Environment.NewLine);
    }

    [Fact]
    public void A_retention_shorter_than_an_upload_links_lifetime_is_refused_at_start()
    {
        var problems = new UploadOptions { Retention = TimeSpan.FromHours(48) }
            .Validate(new System.ComponentModel.DataAnnotations.ValidationContext(new object())).ToList();

        problems.Should().ContainSingle().Which.ErrorMessage.Should().Contain("Kinema:Uploads:Retention").And.Contain("72 hours");
    }

    [Fact]
    public void The_time_in_an_id_reads_back_to_the_millisecond()
    {
        var at = new DateTimeOffset(2031, 2, 3, 4, 5, 6, 789, TimeSpan.Zero);

        Kinema.Core.Tasks.TaskIds.TimeOf(Ulid(at)).Should().Be(at);
        Kinema.Core.Tasks.TaskIds.TimeOf("01KB-not-ulid").Should().BeNull();
        Kinema.Core.Tasks.TaskIds.TimeOf("01KB").Should().BeNull();
    }

    [Fact]
    public void A_generated_id_carries_at_least_its_time_and_never_goes_back()
    {
        // The generator is monotonic for the whole process, and other tests in it make ids at fake times (some days
        // ahead): an id carries its own time or, when an earlier id was later, that one's; it never sorts before it.
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var first = Kinema.Core.Tasks.TaskIds.New(at);
        var earlier = Kinema.Core.Tasks.TaskIds.New(at - TimeSpan.FromDays(1));

        Kinema.Core.Tasks.TaskIds.TimeOf(first.AsSpan(5)).Should().BeOnOrAfter(at);
        string.CompareOrdinal(earlier, first).Should().BePositive("an id made for an earlier time still sorts after the last one");
        Kinema.Core.Tasks.TaskIds.TimeOf(earlier.AsSpan(5)).Should().Be(Kinema.Core.Tasks.TaskIds.TimeOf(first.AsSpan(5)));
    }

    /// <summary>A ULID for a given time, written out here rather than by the id generator, which never goes back in time.</summary>
    private static string Ulid(DateTimeOffset at)
    {
        const string digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        var milliseconds = at.ToUnixTimeMilliseconds();
        var time = new char[10];
        for (var i = 9; i >= 0; i--)
        {
            time[i] = digits[(int)(milliseconds & 31)];
            milliseconds >>= 5;
        }

        return new string(time) + "0000000000000000";
    }
}

/// <summary>Keeps what a component logs, so a test can read the line an operator would see.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly TaskCompletionSource<(LogLevel Level, string Message, Exception? Exception)> _first =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<(LogLevel Level, string Message, Exception? Exception)> FirstEntry => _first.Task;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _first.TrySetResult((logLevel, formatter(state, exception), exception));
}
