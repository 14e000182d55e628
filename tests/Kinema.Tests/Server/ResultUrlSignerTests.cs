using Kinema.Server.Results;
using Microsoft.Extensions.Time.Testing;

namespace Kinema.Tests.Server;

public sealed class ResultUrlSignerTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    private ResultUrlSigner Signer(byte fill = 7) => new(Enumerable.Repeat(fill, 32).ToArray(), _time);

    private static (string Expires, string Signature) QueryOf(string pathAndQuery)
    {
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri("http://x" + pathAndQuery).Query);
        return (query["expires"].ToString(), query["signature"].ToString());
    }

    [Fact]
    public void Signed_url_verifies_until_it_expires()
    {
        var (url, expiresAt) = Signer().Sign("task_1", "video.mp4", TimeSpan.FromHours(1));
        var (expires, signature) = QueryOf(url);

        url.Should().StartWith("/files/task_1/video.mp4?");
        expiresAt.Should().Be(_time.GetUtcNow().AddHours(1).ToUnixTimeSeconds());
        Signer().Verify("task_1", "video.mp4", expires, signature).Should().Be(SignatureCheck.Valid);

        _time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        Signer().Verify("task_1", "video.mp4", expires, signature).Should().Be(SignatureCheck.Expired);
    }

    [Theory]
    [InlineData("task_2", "video.mp4", false, false)]
    [InlineData("task_1", "poster.jpg", false, false)]
    [InlineData("task_1", "video.mp4", true, false)]
    [InlineData("task_1", "video.mp4", false, true)]
    public void Tampered_url_is_invalid(string taskId, string name, bool changeExpiry, bool otherSecret)
    {
        var (url, _) = Signer().Sign("task_1", "video.mp4", TimeSpan.FromHours(1));
        var (expires, signature) = QueryOf(url);
        if (changeExpiry)
        {
            expires = (long.Parse(expires, System.Globalization.CultureInfo.InvariantCulture) + 3600).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        Signer(otherSecret ? (byte)8 : (byte)7).Verify(taskId, name, expires, signature).Should().Be(SignatureCheck.Invalid);
    }

    [Theory]
    [InlineData(null, "abc")]
    [InlineData("soon", "abc")]
    [InlineData("-5", "abc")]
    [InlineData("99999999999", null)]
    public void Malformed_query_is_invalid(string? expires, string? signature)
    {
        Signer().Verify("task_1", "video.mp4", expires, signature).Should().Be(SignatureCheck.Invalid);
    }
}
