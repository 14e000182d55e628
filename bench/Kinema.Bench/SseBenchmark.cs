using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Kinema.Core;
using Kinema.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Kinema.Bench;

/// <summary>
/// 1,000 SSE watchers on one Kinema server (a child process, so its memory and CPU are its own): memory per idle
/// watcher, and CPU per watcher while the watched task renders, against the same render watched by nobody.
/// </summary>
internal static class SseBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var watchers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
        var data = Path.Combine(Path.GetTempPath(), "kinema-bench-sse", Guid.NewGuid().ToString("N"));
        var port = FreePort();
        using var server = StartChild(data, port);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitHealthyAsync(client);
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(new KinemaPaths(data).CliKey)).Trim());
            const string render = """{"model":"kling-v3","prompt":"watched render","mode":"pro","duration":8}""";

            // A render nobody watches: the baseline CPU.
            var (_, unwatchedCpu) = await TimeRenderAsync(client, server, render, 0, port);
            // The same render with the watchers on it (connected while a blocker keeps the task pending).
            var blocker = await CreateAsync(client, """{"model":"kling-v3","prompt":"blocker","mode":"pro","duration":10}""");
            var (watched, watchedCpu) = await TimeRenderAsync(client, server, render, watchers, port);
            await WaitDoneAsync(client, blocker);

            Console.WriteLine();
            Console.WriteLine($"| {watchers} SSE watchers of one task | value |");
            Console.WriteLine("|---|---|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| server RSS before the watchers connect | {watched.RssBefore / 1048576.0:F1} MiB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| server RSS with {watchers} idle watchers | {watched.RssWith / 1048576.0:F1} MiB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| memory per watcher | {(watched.RssWith - watched.RssBefore) / (double)watchers / 1024:F1} KiB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| server CPU for the render, unwatched | {unwatchedCpu.TotalSeconds:F2} s |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| server CPU for the same render, {watchers} watchers | {watchedCpu.TotalSeconds:F2} s |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| events per watcher (all ended with completed: {watched.AllCompleted}) | {watched.EventsPerWatcher:F1} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| CPU per watcher per event | {(watchedCpu - unwatchedCpu).TotalMilliseconds * 1000 / watchers / Math.Max(1, watched.EventsPerWatcher):F1} µs |"));
            return 0;
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    private sealed record WatchResult(long RssBefore, long RssWith, double EventsPerWatcher, bool AllCompleted);

    private static async Task<(WatchResult Result, TimeSpan Cpu)> TimeRenderAsync(HttpClient client, Process server, string body, int watchers, int port)
    {
        var id = await CreateAsync(client, body);
        var rssBefore = Rss(server);
        var counts = new int[watchers];
        var completed = new bool[watchers];
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue };
        using var watcherClient = new HttpClient(handler) { BaseAddress = client.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        watcherClient.DefaultRequestHeaders.Authorization = client.DefaultRequestHeaders.Authorization;
        var connected = 0;
        var streams = Enumerable.Range(0, watchers).Select(i => Task.Run(async () =>
        {
            using var response = await watcherClient.GetAsync($"/v1/tasks/{id}/events", HttpCompletionOption.ResponseHeadersRead);
            Interlocked.Increment(ref connected);
            await using var stream = await response.Content.ReadAsStreamAsync();
            await foreach (var item in SseParser.Create(stream).EnumerateAsync())
            {
                if (item.EventType == "task")
                {
                    counts[i]++;
                    completed[i] = item.Data.Contains("\"status\":\"completed\"", StringComparison.Ordinal);
                }
            }
        })).ToList();
        while (Volatile.Read(ref connected) < watchers)
        {
            await Task.Delay(50);
        }

        await Task.Delay(1000);
        var rssWith = Rss(server);
        var cpuBefore = Cpu(server);
        await WaitDoneAsync(client, id);
        await Task.WhenAll(streams);
        var cpu = Cpu(server) - cpuBefore;
        return (new WatchResult(rssBefore, rssWith, watchers == 0 ? 0 : counts.Average(), completed.All(c => c)), cpu);
    }

    private static async Task<string> CreateAsync(HttpClient client, string body)
    {
        using var response = await client.PostAsync("/v1/videos/generations", new StringContent(body, Encoding.UTF8, "application/json"));
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!;
    }

    private static async Task WaitDoneAsync(HttpClient client, string id)
    {
        while (true)
        {
            using var document = JsonDocument.Parse(await client.GetStringAsync($"/v1/tasks/{id}"));
            if (document.RootElement.GetProperty("data").GetProperty("status").GetString() is "completed" or "failed")
            {
                return;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Runs in the child: a Kinema server with one worker, so a blocker can hold the watched task pending.</summary>
    public static async Task<int> ServeAsync(string[] args)
    {
        var paths = new KinemaPaths(args[0]);
        var app = KinemaServer.Build(paths, [], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = $"http://127.0.0.1:{args[1]}",
            ["Kinema:Scheduler:Workers"] = "1",
            ["Logging:LogLevel:Default"] = "Warning",
            // One key drives all the load: its rate limit must not be what is measured.
            ["Kinema:RateLimits:RequestsPerMinute"] = "10000000",
        }), createFirstKey: true);
        await app.StartAsync();
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static Process StartChild(string data, int port)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { typeof(SseBenchmark).Assembly.Location, "sse-server", data, port.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start)!;
    }

    private static async Task WaitHealthyAsync(HttpClient client)
    {
        for (var i = 0; i < 300; i++)
        {
            try
            {
                using var response = await client.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the server did not start");
    }

    private static long Rss(Process process)
    {
        var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static TimeSpan Cpu(Process process)
    {
        process.Refresh();
        return process.TotalProcessorTime;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
