using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kinema.Contracts.Json;
using Kinema.Contracts.Responses;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kinema.Bench;

/// <summary>
/// Kinema's status GET and durable submit against a bare Kestrel JSON endpoint in the same process, each driven by
/// wrk over loopback. Ratios, not absolute numbers, are the result: the machine is shared and noisy.
/// </summary>
internal static partial class HttpBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var connections = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
        var provider = args.Length > 2 ? args[2] : "sqlite";
        if (!File.Exists("/usr/bin/wrk"))
        {
            Console.Error.WriteLine("wrk is needed: apt-get install -y wrk");
            return 2;
        }

        await using var bare = await StartBareAsync();
        await using var database = await BenchDatabase.CreateAsync(provider);
        await using var kinema = await BenchKinema.StartAsync(database.Settings);
        var key = kinema.Key;
        var kinemaUrl = kinema.Url;
        var bareUrl = bare.Urls.First();
        var taskId = await CreateTaskAsync(kinemaUrl, key);
        const string body = CreateBody;

        // The same request with one broken rule: everything a create does before the store (auth, rate limit, parse,
        // every rule, the envelope), so the gap to the durable create is what the durable write costs.
        var refusedBody = body.Replace("\"duration\":5", "\"duration\":55", StringComparison.Ordinal);
        if (refusedBody == body)
        {
            throw new InvalidOperationException("the refused create's body must break a rule; the create body no longer has \"duration\":5");
        }

        Console.WriteLine($"wrk -t2 -c{connections} -d{seconds}s, store {provider}, server and load generator share this machine");
        // Steady state is measured, not start-up: every endpoint first takes one unrecorded run of the same length, so
        // the JIT has tiered up each path (on two busy cores its background compiler lags the load by many seconds).
        Console.WriteLine("  warm-up (not recorded):");
        await WrkAsync($"{bareUrl}/bare/task", seconds, connections, null, null);
        await WrkAsync($"{kinemaUrl}/v1/tasks/{taskId}", seconds, connections, key, null);
        await WrkAsync($"{bareUrl}/bare/generations", seconds, connections, null, body);
        await WrkAsync($"{kinemaUrl}/v1/videos/generations", seconds, connections, key, body);
        await WrkAsync($"{kinemaUrl}/v1/videos/generations", seconds, connections, key, refusedBody, expectErrors: true);
        Console.WriteLine("  measured:");
        var bareGet = await WrkAsync($"{bareUrl}/bare/task", seconds, connections, null, null);
        var kinemaGet = await WrkAsync($"{kinemaUrl}/v1/tasks/{taskId}", seconds, connections, key, null);
        var barePost = await WrkAsync($"{bareUrl}/bare/generations", seconds, connections, null, body);
        var kinemaPost = await WrkAsync($"{kinemaUrl}/v1/videos/generations", seconds, connections, key, body);
        var kinemaRefused = await WrkAsync($"{kinemaUrl}/v1/videos/generations", seconds, connections, key, refusedBody, expectErrors: true);

        Console.WriteLine();
        Console.WriteLine("| measurement | requests/s | p99 latency | server CPU µs a request | ratio to bare | goal |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Row("bare Kestrel GET (200 B JSON)", bareGet, bareGet, "");
        Row($"Kinema GET /v1/tasks/{{id}} (auth + {provider} read)", kinemaGet, bareGet, provider == "postgres" ? "≥ 0.7×" : "≥ 0.8×");
        Row("bare Kestrel POST (JSON parse + answer)", barePost, barePost, "");
        Row($"Kinema POST /v1/videos/generations (validate + durable {provider} insert)", kinemaPost, barePost, provider == "postgres" ? "≥ 0.25×" : "≥ 0.5×");
        Row("Kinema POST refused by a rule (the same path without the store: 400)", kinemaRefused, barePost, "");
        return 0;
    }

    /// <summary>
    /// <c>http-create</c>: only the bare POST and the durable create, alternated for several rounds after one warm-up each,
    /// so that a change to the create path can be compared run against run in one process.
    /// </summary>
    public static async Task<int> RunCreatesAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 6;
        var connections = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        var provider = args.Length > 3 ? args[3] : "sqlite";
        await using var bare = await StartBareAsync();
        await using var database = await BenchDatabase.CreateAsync(provider);
        await using var kinema = await BenchKinema.StartAsync(database.Settings);
        var key = kinema.Key;
        var create = $"{kinema.Url}/v1/videos/generations";
        var barePost = $"{bare.Urls.First()}/bare/generations";
        await WrkAsync(barePost, seconds, connections, null, CreateBody);
        await WrkAsync(create, seconds, connections, key, CreateBody);
        var ratios = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            var baseline = await WrkAsync(barePost, seconds, connections, null, CreateBody);
            var created = await WrkAsync(create, seconds, connections, key, CreateBody);
            ratios.Add(created.RequestsPerSecond / baseline.RequestsPerSecond);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round + 1}: ratio {ratios[^1]:F2}×"));
        }

        ratios.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median durable create ratio: {ratios[ratios.Count / 2]:F2}× (goal ≥ {(provider == "postgres" ? "0.25" : "0.5")}×)"));
        return 0;
    }

    private const string CreateBody =
        """{"model":"kling-v3","prompt":"a golden retriever running on the beach, sunset, cinematic","mode":"std","duration":5,"aspect_ratio":"16:9"}""";

    private static void Row(string name, WrkResult result, WrkResult baseline, string goal) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {result.RequestsPerSecond:F0} | {result.P99} | {result.CpuMicrosecondsPerRequest:F1} | {result.RequestsPerSecond / baseline.RequestsPerSecond:F2}× | {goal} |"));

    internal static async Task<WebApplication> StartBareAsync()
    {
        // Its content root is a folder of its own, and it watches no files: by default it would watch the working directory
        // recursively, and Kinema's SQLite writes in a data directory under it would wake that watcher, a cost that is
        // neither Kinema's nor a bare endpoint's.
        var root = Directory.CreateTempSubdirectory("kinema-bare-");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = root.FullName,
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, KinemaJsonContext.Wire));
        var app = builder.Build();
        var task = new TaskResponse(200, new TaskStatusData
        {
            Id = "task_01KA040M0HP1GJWBJYZMKX1XS1", Status = "processing", Progress = 42, Created = 1763088289,
            EstimatedTime = 60, Model = "kling-v3", Engine = "animatic", Updated = 1763088290,
        });
        app.MapGet("/bare/task", () => TypedResults.Ok(task));
        app.MapPost("/bare/generations", async (HttpRequest request) =>
        {
            using var document = await JsonDocument.ParseAsync(request.Body);
            return TypedResults.Ok(new CreateTaskResponse(200, [new SubmittedTask("submitted", "task_01KA040M0HP1GJWBJYZMKX1XS1")]));
        });
        await app.StartAsync();
        return app;
    }

    internal static async Task<string> CreateTaskAsync(string baseUrl, string key)
    {
        using var client = new HttpClient { BaseAddress = new Uri(baseUrl) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await client.PostAsync("/v1/videos/generations",
            new StringContent("""{"model":"kling-v3","prompt":"bench"}""", System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"create failed: {text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()!;
    }

    internal static async Task<WrkResult> WrkAsync(
        string url, int seconds, int connections, string? key, string? body, string? luaRequest = null, bool expectErrors = false)
    {
        var script = Path.GetTempFileName() + ".lua";
        var lines = new List<string>();
        if (body is not null)
        {
            lines.Add("wrk.method = \"POST\"");
            lines.Add($"wrk.body = [[{body}]]");
            lines.Add("wrk.headers[\"Content-Type\"] = \"application/json\"");
        }

        if (key is not null)
        {
            lines.Add($"wrk.headers[\"Authorization\"] = \"Bearer {key}\"");
        }

        if (luaRequest is not null)
        {
            lines.Add(luaRequest);
        }

        await File.WriteAllLinesAsync(script, lines);
        var start = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { "-t2", $"-c{connections}", $"-d{seconds}s", "--latency", "-s", script, url })
        {
            start.ArgumentList.Add(argument);
        }

        // The servers run in this process, and only the one under load works: this process's CPU over the run, divided by
        // the requests, is the server's CPU a request. It moves less with the neighbours than the throughput does.
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var threadsBefore = ThreadCpu.Snapshot();
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        var threadsAfter = ThreadCpu.Snapshot();
        File.Delete(script);
        var rps = double.Parse(RequestsPerSecond().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var p99 = P99().Match(output).Groups[1].Value;
        var non2xx = Non2xx().Match(output);
        if (non2xx.Success && !expectErrors)
        {
            Console.WriteLine($"  warning: {non2xx.Groups[1].Value} non-2xx answers from {url}");
        }

        var requests = double.Parse(Requests().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var cpuPerRequest = cpu.TotalMicroseconds / Math.Max(1, requests);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {url}: {rps:F0} req/s, p99 {p99}, server CPU {cpuPerRequest:F1} µs a request"));
        Console.WriteLine($"    by thread, µs a request (user+kernel): {ThreadCpu.PerRequest(threadsBefore, threadsAfter, requests)}; {ThreadCpu.Count} threads");
        return new WrkResult(rps, p99, cpuPerRequest);
    }

    internal sealed record WrkResult(double RequestsPerSecond, string P99, double CpuMicrosecondsPerRequest = 0)
    {
        /// <summary>The p99 in milliseconds (wrk prints us, ms or s).</summary>
        public double P99Milliseconds
        {
            get
            {
                var match = Regex.Match(P99, @"^([0-9.]+)(\w+)$");
                var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
                return match.Groups[2].Value switch { "us" => value / 1000, "ms" => value, "s" => value * 1000, _ => value * 60_000 };
            }
        }
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex Requests();

    [GeneratedRegex(@"99%\s+([0-9.]+\w+)")]
    private static partial Regex P99();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex Non2xx();
}
