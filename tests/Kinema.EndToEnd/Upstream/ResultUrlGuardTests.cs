using System.Diagnostics;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Upstream;

/// <summary>A result URL the address guard refuses fails the task at once, saying why, instead of being retried for hours.</summary>
public sealed class ResultUrlGuardTests : IAsyncLifetime
{
    private const string AccessKey = "ak_test_guard";
    private const string SecretKey = "sk_test_guard_secret";
    private FakeKlingServer _kling = null!;

    public async ValueTask InitializeAsync() => _kling = await FakeKlingServer.StartAsync(AccessKey, SecretKey);

    public async ValueTask DisposeAsync() => await _kling.DisposeAsync();

    [Fact]
    public async Task Upstream_success_with_a_loopback_result_url_fails_the_task_at_once()
    {
        // The fake serves its results from 127.0.0.1, which production refuses; the API on the fake itself is fine
        // (upstream base URLs are configuration, not user input).
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Fetch:AllowPrivateNetworks"] = "false",
            ["Kinema:Engines:Kling:BaseUrl"] = _kling.BaseAddress.ToString(),
            ["Kinema:Engines:Kling:AccessKey"] = AccessKey,
            ["Kinema:Engines:Kling:SecretKey"] = SecretKey,
            ["Kinema:Upstream:FirstPoll"] = "00:00:00.200",
            ["Kinema:Upstream:MaxPollInterval"] = "00:00:00.500",
        });
        var clock = Stopwatch.StartNew();

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a fox in snow"}""");
        var task = await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromSeconds(30));

        task.GetProperty("status").GetString().Should().Be("failed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("kling");
        var error = task.GetProperty("error");
        error.GetProperty("code").GetString().Should().Be("result_url_blocked");
        error.GetProperty("message").GetString().Should().Contain("result URL points at a private address");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30), "a blocked address is permanent, not a transient fault");
        _kling.Polls.Should().BeLessThan(10, "the task is failed on the first successful poll, not polled until the deadline");
    }
}
