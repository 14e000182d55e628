using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Kinema.Core;
using Kinema.Core.Tasks;
using Kinema.Core.Tenants;
using Kinema.EndToEnd.Upstream;
using Kinema.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.Bench;

/// <summary>
/// 10,000 tasks in flight at the fake official Kling API, each polled on its own schedule; then a sample of them
/// completes upstream, with a callback (time from callback to Kinema's committed completion) and without one (time
/// from the upstream's completion to Kinema's, against the poll interval).
/// </summary>
internal static class UpstreamBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var inFlight = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        var sample = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        var pollInterval = TimeSpan.FromSeconds(args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 10);
        var data = Path.Combine(Path.GetTempPath(), "kinema-bench-upstream", Guid.NewGuid().ToString("N"));
        await using var kling = await FakeKlingServer.StartAsync("ak_bench_000001", "sk_bench_secret");
        kling.NeverFinish = true;
        var port = FreePort();
        var kinema = KinemaServer.Build(new KinemaPaths(data), [], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = $"http://127.0.0.1:{port}",
            ["Logging:LogLevel:Default"] = "Warning",
            // One key drives all the load: its rate limit must not be what is measured.
            ["Kinema:RateLimits:RequestsPerMinute"] = "10000000",
            ["Kinema:Store:FullSync"] = "false",
            ["Kinema:Scheduler:Workers"] = "8",
            ["Kinema:Engines:Kling:BaseUrl"] = kling.BaseAddress.ToString(),
            ["Kinema:Engines:Kling:AccessKey"] = "ak_bench_000001",
            ["Kinema:Engines:Kling:SecretKey"] = "sk_bench_secret",
            ["Kinema:Upstream:FirstPoll"] = pollInterval.ToString(),
            ["Kinema:Upstream:MaxPollInterval"] = pollInterval.ToString(),
            ["Kinema:Upstream:MaxConcurrentPolls"] = "128",
            ["Kinema:Upstream:MaxConcurrentPollsPerAccount"] = "128",
            ["Kinema:Upstream:CallbackBaseUrl"] = $"http://127.0.0.1:{port}",
            ["Kinema:Fetch:AllowPrivateNetworks"] = "true",
        }));
        await kinema.StartAsync();
        try
        {
            var key = (await kinema.Services.GetRequiredService<IApiKeyStore>().CreateAsync("bench", null, CancellationToken.None)).Key;
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

            var clock = Stopwatch.StartNew();
            var ids = new string[inFlight];
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, 32).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < inFlight)
                {
                    using var response = await client.PostAsync("/v1/videos/generations", new StringContent(
                        $$"""{"model":"kling-v3","prompt":"bench {{i}}","duration":5}""", Encoding.UTF8, "application/json"));
                    using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                    ids[i] = document.RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!;
                }
            }));
            var accepted = clock.Elapsed;
            while (kling.Submissions < inFlight)
            {
                await Task.Delay(100);
            }

            var submitted = clock.Elapsed;
            var upstream = kinema.Services.GetRequiredService<IUpstreamTaskStore>();
            var waiting = await upstream.CountWaitingAsync(CancellationToken.None);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{inFlight} tasks accepted in {accepted.TotalSeconds:F1} s, all submitted upstream after {submitted.TotalSeconds:F1} s; waiting upstream: {waiting}"));
            // Let the polls settle into their schedules before measuring.
            var pollsBefore = kling.Polls;
            await Task.Delay(pollInterval * 2);
            var pollRate = (kling.Polls - pollsBefore) / (pollInterval * 2).TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"steady polling: {pollRate:F0} polls/s for {inFlight} tasks (poll interval {pollInterval.TotalSeconds} s)"));

            var byExternal = kling.Tasks.Values.ToDictionary(t => t.ExternalTaskId!, t => t.Id);
            var random = new Random(42);
            var withCallback = ids.OrderBy(_ => random.Next()).Take(sample).ToList();
            var withoutCallback = ids.Except(withCallback).OrderBy(_ => random.Next()).Take(sample).ToList();

            var callbackSent = new Dictionary<string, DateTimeOffset>();
            foreach (var id in withCallback)
            {
                callbackSent[id] = await kling.CompleteWithCallbackAsync(byExternal[id]);
                await Task.Delay(25);
            }

            var silentDone = new Dictionary<string, DateTimeOffset>();
            foreach (var id in withoutCallback)
            {
                kling.Tasks[byExternal[id]].Status = "succeed";
                silentDone[id] = DateTimeOffset.UtcNow;
                await Task.Delay(25);
            }

            var store = kinema.Services.GetRequiredService<IUpstreamTaskStore>();
            var waitUntil = DateTime.UtcNow + pollInterval * 4;
            while (DateTime.UtcNow < waitUntil)
            {
                var pending = 0;
                foreach (var id in withCallback.Concat(withoutCallback))
                {
                    if ((await store.FindAsync(id, CancellationToken.None))!.State != TaskState.Completed)
                    {
                        pending++;
                    }
                }

                if (pending == 0)
                {
                    break;
                }

                await Task.Delay(500);
            }

            var callbackLatencies = await LatenciesAsync(store, callbackSent);
            var pollLatencies = await LatenciesAsync(store, silentDone);
            Console.WriteLine();
            Console.WriteLine($"| {inFlight} upstream tasks in flight | completions | p50 | p95 | max | goal |");
            Console.WriteLine("|---|---|---|---|---|---|");
            Row("callback → completed in Kinema (archived, committed)", callbackLatencies, sample, "p95 ≤ 1 s");
            Row($"upstream done, no callback → completed (poll interval {pollInterval.TotalSeconds:0} s)", pollLatencies, sample, $"≤ {pollInterval.TotalSeconds:0} s");
            return 0;
        }
        finally
        {
            await kinema.StopAsync();
            await kinema.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task<List<double>> LatenciesAsync(IUpstreamTaskStore store, Dictionary<string, DateTimeOffset> started)
    {
        var latencies = new List<double>();
        foreach (var (id, at) in started)
        {
            var task = await store.FindAsync(id, CancellationToken.None);
            if (task is { State: TaskState.Completed, FinishedAt: { } finished })
            {
                latencies.Add((finished - at).TotalSeconds);
            }
        }

        latencies.Sort();
        return latencies;
    }

    private static void Row(string name, List<double> latencies, int expected, string goal)
    {
        string At(double q) => latencies.Count == 0 ? "–" : $"{latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(q * latencies.Count) - 1)]:F2} s";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {latencies.Count}/{expected} | {At(0.5)} | {At(0.95)} | {(latencies.Count == 0 ? "–" : $"{latencies[^1]:F2} s")} | {goal} |"));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
