using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.Extensions.Options;

namespace Kinema.EndToEnd;

/// <summary>
/// A request target or headers past the server's limits get the contract's envelope naming the limit, through real
/// Kestrel on loopback: not Kestrel's own empty 414 or 431.
/// </summary>
public sealed class RequestHeadLimitTests : IAsyncLifetime
{
    private KinemaTestServer _server = null!;

    public async ValueTask InitializeAsync() =>
        _server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Scheduler:Enabled"] = "false" });

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private static async Task<JsonElement> ErrorOfAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(expected, text);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        response.Headers.Contains("X-Request-Id").Should().BeTrue();
        return JsonDocument.Parse(text).RootElement.GetProperty("error").Clone();
    }

    [Fact]
    public async Task A_target_past_the_limit_is_a_414_envelope_naming_its_size_and_the_limit()
    {
        var taskId = await _server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a kite"}""");

        using var response = await _server.Alice.GetAsync($"/v1/tasks/{taskId}?pad={new string('a', 9000)}");

        var error = await ErrorOfAsync(response, HttpStatusCode.RequestUriTooLong);
        error.GetProperty("code").GetInt32().Should().Be(414);
        error.GetProperty("type").GetString().Should().Be("invalid_request_error");
        var target = $"/v1/tasks/{taskId}?pad={new string('a', 9000)}".Length;
        error.GetProperty("message").GetString().Should()
            .Contain($"{target:N0} bytes").And.Contain("at most 8,192").And.Contain("request body");
    }

    [Fact]
    public async Task A_header_past_the_limit_is_a_431_envelope_naming_the_largest_header()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks");
        request.Headers.Add("X-Trace-Context", new string('t', 40_000));

        using var response = await _server.Alice.SendAsync(request);

        var error = await ErrorOfAsync(response, HttpStatusCode.RequestHeaderFieldsTooLarge);
        error.GetProperty("code").GetInt32().Should().Be(431);
        error.GetProperty("param").GetString().Should().Be("X-Trace-Context");
        error.GetProperty("message").GetString().Should().Contain("at most 32,768").And.Contain("the largest is X-Trace-Context, 40,019 bytes");
    }

    [Fact]
    public async Task Too_many_header_fields_are_a_431_envelope_counting_them()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks");
        for (var i = 0; i < 120; i++)
        {
            request.Headers.Add($"X-Field-{i}", "v");
        }

        using var response = await _server.Alice.SendAsync(request);

        var error = await ErrorOfAsync(response, HttpStatusCode.RequestHeaderFieldsTooLarge);
        error.GetProperty("message").GetString().Should().MatchRegex(@"^the request has 12\d header fields; this server accepts at most 100$");
    }

    [Fact]
    public async Task A_request_just_inside_every_limit_is_served()
    {
        var taskId = await _server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a kite"}""");
        var path = $"/v1/tasks/{taskId}?pad=";
        using var request = new HttpRequestMessage(HttpMethod.Get, path + new string('a', 8 * 1024 - path.Length));
        request.Headers.Add("X-Trace-Context", new string('t', 30_000));
        for (var i = 0; i < 80; i++)
        {
            request.Headers.Add($"X-Field-{i}", "v");
        }

        using var response = await _server.Alice.SendAsync(request);

        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.OK, text);
        JsonDocument.Parse(text).RootElement.GetProperty("data").GetProperty("id").GetString().Should().Be(taskId);
    }

    [Fact]
    public async Task Past_twice_the_limit_Kestrel_itself_refuses_and_the_server_keeps_serving()
    {
        // Kestrel's own ceiling is twice Kinema's limit; beyond it the request never reaches the application.
        using var client = new TcpClient();
        await client.ConnectAsync(_server.BaseAddress.Host, _server.BaseAddress.Port);
        var stream = client.GetStream();
        var head = $"GET /v1/tasks?pad={new string('a', 20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer);

        Encoding.ASCII.GetString(buffer, 0, read).Should().StartWith("HTTP/1.1 414");
        (await _server.Alice.GetAsync("/v1/tasks")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Lower_configured_limits_are_the_ones_enforced()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:RequestLimits:MaxTargetBytes"] = "2048",
            ["Kinema:RequestLimits:MaxHeaderBytes"] = "8192",
        });

        using var longTarget = await server.Alice.GetAsync($"/v1/tasks?pad={new string('a', 3000)}");
        (await ErrorOfAsync(longTarget, HttpStatusCode.RequestUriTooLong)).GetProperty("message").GetString().Should().Contain("at most 2,048");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/tasks");
        request.Headers.Add("X-Trace-Context", new string('t', 10_000));
        using var bigHeader = await server.Alice.SendAsync(request);
        (await ErrorOfAsync(bigHeader, HttpStatusCode.RequestHeaderFieldsTooLarge)).GetProperty("message").GetString().Should().Contain("at most 8,192");
    }

    [Fact]
    public async Task A_limit_out_of_range_stops_start_up_naming_the_setting()
    {
        var start = () => KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:RequestLimits:MaxHeaderCount"] = "2" });

        var failure = (await start.Should().ThrowAsync<OptionsValidationException>()).Which;

        failure.Message.Should().Contain("MaxHeaderCount");
    }
}
