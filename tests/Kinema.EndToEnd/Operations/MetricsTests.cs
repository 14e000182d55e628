using System.Net;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Operations;

/// <summary>
/// Runs alone: OpenTelemetry subscribes to meters by name, so every Kinema host alive in this process would add to
/// this server's counters, and once one of them is disposed, a counter it shared is no longer exported by the others.
/// Run after the parallel tests, its server is the only one, and counts are exact.
/// </summary>
[CollectionDefinition(nameof(IsolatedMetrics), DisableParallelization = true)]
public sealed class IsolatedMetrics;

/// <summary><c>/metrics</c>: the Kinema instruments in Prometheus text, without an API key.</summary>
[Collection(nameof(IsolatedMetrics))]
public sealed class MetricsTests
{
    private static readonly TimeSpan ScrapeDeadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Metrics_count_created_completed_and_failed_tasks_and_time_the_renders()
    {
        await using var images = await ImageServer.StartAsync();
        await using var server = await KinemaTestServer.StartAsync();
        var ids = new[]
        {
            await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"one","duration":3}"""),
            await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"two","duration":3,"mode":"pro"}"""),
            await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"x","duration":3,"image_urls":["{{images.Url("missing.png")}}"]}"""),
        };
        var statuses = new List<string?>();
        foreach (var id in ids)
        {
            statuses.Add((await server.Alice.WaitForTerminalAsync(id)).GetProperty("status").GetString());
        }

        statuses.Should().Equal("completed", "completed", "failed");

        // The counters move right after the store commits, so the client may see a state a moment before they do.
        var samples = await ScrapeUntilAsync(server, s => Total(s, "kinema_tasks_completed_total") >= 2 && Total(s, "kinema_tasks_failed_total") >= 1);

        Total(samples, "kinema_tasks_created_total").Should().Be(3);
        Total(samples, "kinema_tasks_completed_total").Should().Be(2);
        Total(samples, "kinema_tasks_failed_total").Should().Be(1);
        Total(samples, "kinema_tasks_cancelled_total").Should().Be(0);
        Total(samples, "kinema_render_duration_seconds_count").Should().Be(2, "only finished renders are timed");
        samples.Where(s => s.Name == "kinema_render_duration_seconds_count").Select(s => s.Labels["mode"])
            .Should().BeEquivalentTo(["std", "pro"]);
        Total(samples, "kinema_render_duration_seconds_sum").Should().BePositive();
        samples.Should().Contain(s => s.Name == "kinema_queue_depth");
        samples.Should().Contain(s => s.Name == "kinema_upstream_waiting");
        samples.Where(s => s.Name == "kinema_store_batch_size_count" && s.Has("provider", "sqlite"))
            .Sum(s => s.Value).Should().BePositive();
        samples.Should().Contain(s => s.Name == "http_server_request_duration_seconds_count", "ASP.NET Core's server metrics are exported too");
    }

    [Fact]
    public async Task Cancelled_tasks_are_counted_and_neither_operations_endpoint_is_in_the_openapi_document()
    {
        await using var server = await KinemaTestServer.StartAsync();
        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"cancel me","mode":"pro","duration":15}""");
        using var cancel = await server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        cancel.StatusCode.Should().Be(HttpStatusCode.OK);

        var samples = await ScrapeUntilAsync(server, s => Total(s, "kinema_tasks_cancelled_total") >= 1);

        Total(samples, "kinema_tasks_cancelled_total").Should().Be(1);
        using var document = JsonDocument.Parse(await server.Anonymous.GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        paths.Should().NotContain(["/metrics", "/readyz", "/healthz"]);
    }

    private static double Total(IReadOnlyList<PrometheusSample> samples, string name) =>
        samples.Where(s => s.Name == name && s.Has("engine", "animatic") && (s.Name.Contains("render", StringComparison.Ordinal) || s.Has("model", "kling-v3")))
            .Sum(s => s.Value);

    private static async Task<IReadOnlyList<PrometheusSample>> ScrapeUntilAsync(KinemaTestServer server, Func<IReadOnlyList<PrometheusSample>, bool> done)
    {
        var deadline = DateTime.UtcNow + ScrapeDeadline;
        while (true)
        {
            // No API key: scrapers do not carry one.
            using var response = await server.Anonymous.GetAsync("/metrics");
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            response.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
            var samples = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
            if (done(samples) || DateTime.UtcNow > deadline)
            {
                return samples;
            }

            await Task.Delay(200);
        }
    }
}
