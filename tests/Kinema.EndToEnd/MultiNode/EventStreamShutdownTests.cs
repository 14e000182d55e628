using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;

namespace Kinema.EndToEnd.MultiNode;

/// <summary>
/// A rolling restart with a watcher connected: the stopping node ends the stream cleanly at once (rather than holding
/// its shutdown for the host's 30 s timeout and then cutting the connection), and the watcher resumes on another node
/// with <c>Last-Event-ID</c>, receiving only what it has not seen.
/// </summary>
public sealed class EventStreamShutdownTests(ITestOutputHelper output)
{
    private static async Task<List<SseItem<string>>> ReadAllAsync(HttpResponseMessage response, List<SseItem<string>> into)
    {
        await using var stream = await response.Content.ReadAsStreamAsync();
        await foreach (var item in SseParser.Create(stream).EnumerateAsync())
        {
            lock (into)
            {
                into.Add(item);
            }
        }

        return into;
    }

    [Fact]
    public async Task A_stopping_node_ends_its_streams_at_once_and_another_node_resumes_from_the_last_event()
    {
        var database = await TestPostgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:Store:Provider"] = "postgres",
            ["ConnectionStrings:Kinema"] = database,
        };
        var nodeA = await KinemaTestServer.StartAsync(settings);
        var nodeB = await KinemaTestServer.StartAsync(settings);
        var nodeAStopped = false;
        try
        {
            var taskId = await nodeA.Alice.CreateAsync("""{"model":"kling-v3","prompt":"watched across a restart","duration":3}""");
            using var watcherA = nodeA.ClientFor(nodeA.AliceKey);
            using var streamA = await watcherA.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{taskId}/events"),
                HttpCompletionOption.ResponseHeadersRead);
            var seenOnA = new List<SseItem<string>>();
            var readingA = ReadAllAsync(streamA, seenOnA);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (seenOnA.Count == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            var clock = Stopwatch.StartNew();
            nodeAStopped = true;
            await nodeA.DisposeAsync();
            var shutdown = clock.Elapsed;
            await readingA.WaitAsync(TimeSpan.FromSeconds(5));

            output.WriteLine($"node A stopped in {shutdown.TotalSeconds:0.00} s");
            shutdown.Should().BeLessThan(TimeSpan.FromSeconds(10), "the open stream must not hold the shutdown for the host's 30 s timeout");
            var first = seenOnA.Should().ContainSingle().Which;
            first.EventType.Should().Be("task");
            JsonDocument.Parse(first.Data).RootElement.GetProperty("status").GetString().Should().Be("pending");

            using var resume = new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{taskId}/events");
            resume.Headers.Add("Last-Event-ID", first.EventId);
            clock.Restart();
            using var streamB = await nodeB.Alice.SendAsync(resume, HttpCompletionOption.ResponseHeadersRead);
            var answered = clock.Elapsed;
            output.WriteLine($"node B answered the resumed stream in {answered.TotalSeconds:0.00} s");
            var seenOnB = new List<SseItem<string>>();
            var readingB = ReadAllAsync(streamB, seenOnB);
            await Task.Delay(300);
            using var cancelled = await nodeB.Alice.PostAsync($"/v1/tasks/{taskId}/cancel", null);
            cancelled.EnsureSuccessStatusCode();
            await readingB.WaitAsync(TimeSpan.FromSeconds(20));

            answered.Should().BeLessThan(TimeSpan.FromSeconds(10), "a resumed stream with nothing new answers at once, not at the 15 s keep-alive");
            seenOnB.Select(item => item.EventType).Should().Equal(["keepalive", "task"], "the pending state was seen on node A already");
            var resumed = seenOnB[1];
            JsonDocument.Parse(resumed.Data).RootElement.GetProperty("status").GetString().Should().Be("cancelled");
            long.Parse(resumed.EventId!, System.Globalization.CultureInfo.InvariantCulture)
                .Should().BeGreaterThan(long.Parse(first.EventId!, System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            if (!nodeAStopped)
            {
                await nodeA.DisposeAsync();
            }

            await nodeB.DisposeAsync();
            await TestPostgres.DropDatabaseAsync(database);
        }
    }
}
