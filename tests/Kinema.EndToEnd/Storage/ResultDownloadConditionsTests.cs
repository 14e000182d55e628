using System.Net;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Storage;

/// <summary>
/// A signed result link answers ranges and conditions the same way whether the file is on the node's disk or in a
/// bucket: players and download managers send all of these.
/// </summary>
public sealed class ResultDownloadConditionsTests(S3ServerFixture fixture) : IClassFixture<S3ServerFixture>
{
    private const string Body = """{"model":"kling-v3","prompt":"a clock tower, downloads with conditions","duration":3,"aspect_ratio":"1:1"}""";

    [Theory]
    [InlineData("disk")]
    [InlineData("s3")]
    public async Task Ranges_if_range_and_conditional_gets_are_answered_by_rfc_9110_on_both_storages(string storage)
    {
        await using var server = await KinemaTestServer.StartAsync(storage == "s3" ? fixture.S3.KinemaSettings() : null);
        var task = await server.Alice.WaitForTerminalAsync(await server.Alice.CreateAsync(Body));
        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        var url = task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!;
        using var client = new HttpClient();
        using var full = await SendAsync(client, url);
        var bytes = await full.Content.ReadAsByteArrayAsync();
        var etag = full.Headers.ETag!.ToString();
        var lastModified = full.Content.Headers.LastModified!.Value;

        using var range = await SendAsync(client, url, ("Range", "bytes=100-199"));
        using var otherUnit = await SendAsync(client, url, ("Range", "items=0-5"));
        using var severalRanges = await SendAsync(client, url, ("Range", "bytes=0-9,20-29"));
        using var ifRangeCurrent = await SendAsync(client, url, ("Range", "bytes=0-9"), ("If-Range", etag));
        using var ifRangeStale = await SendAsync(client, url, ("Range", "bytes=0-9"), ("If-Range", "\"not-this-one\""));
        using var ifRangeOldDate = await SendAsync(client, url, ("Range", "bytes=0-9"), ("If-Range", lastModified.AddDays(-1).ToString("R")));
        using var ifNoneMatch = await SendAsync(client, url, ("If-None-Match", etag));
        using var ifNoneMatchOther = await SendAsync(client, url, ("If-None-Match", "\"not-this-one\""));
        using var ifModifiedSince = await SendAsync(client, url, ("If-Modified-Since", lastModified.ToString("R")));
        using var ifModifiedSinceOld = await SendAsync(client, url, ("If-Modified-Since", lastModified.AddDays(-1).ToString("R")));
        using var beyond = await SendAsync(client, url, ("Range", $"bytes={bytes.Length}-"));

        full.StatusCode.Should().Be(HttpStatusCode.OK);
        full.Headers.AcceptRanges.Should().Contain("bytes");
        etag.Should().StartWith("\"");
        range.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        range.Content.Headers.ContentRange!.ToString().Should().Be($"bytes 100-199/{bytes.Length}");
        (await range.Content.ReadAsByteArrayAsync()).Should().Equal(bytes[100..200]);
        foreach (var whole in new[] { otherUnit, severalRanges, ifRangeStale, ifRangeOldDate, ifNoneMatchOther, ifModifiedSinceOld })
        {
            whole.StatusCode.Should().Be(HttpStatusCode.OK, whole.RequestMessage!.Headers.ToString());
            whole.Content.Headers.ContentRange.Should().BeNull();
            (await whole.Content.ReadAsByteArrayAsync()).Should().Equal(bytes);
        }

        ifRangeCurrent.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        (await ifRangeCurrent.Content.ReadAsByteArrayAsync()).Should().Equal(bytes[..10]);
        ifNoneMatch.StatusCode.Should().Be(HttpStatusCode.NotModified);
        (await ifNoneMatch.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
        ifModifiedSince.StatusCode.Should().Be(HttpStatusCode.NotModified);
        beyond.StatusCode.Should().Be(HttpStatusCode.RequestedRangeNotSatisfiable);
        beyond.Content.Headers.ContentRange!.ToString().Should().Be($"bytes */{bytes.Length}");
        var error = JsonDocument.Parse(await beyond.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        error.GetProperty("code").GetInt32().Should().Be(416);
        error.GetProperty("param").GetString().Should().Be("Range");
        error.GetProperty("message").GetString().Should().Contain($"{bytes.Length} bytes");
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string url, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value).Should().BeTrue(name);
        }

        return await client.SendAsync(request);
    }
}
