using Kinema.Contracts.Rules;
using Kinema.Core;
using Kinema.Core.Engines;
using Kinema.Core.Storage;
using Kinema.Server.Results;
using Kinema.Server.Uploads;
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
}
