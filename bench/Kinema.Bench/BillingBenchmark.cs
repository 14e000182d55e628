using System.Globalization;
using Kinema.Core.Billing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.Bench;

/// <summary>
/// Submit throughput with billing off and on, in the same run, each on its own fresh server and data directory: the
/// cost of pricing, the balance check, the debit and the ledger line inside the create's transaction. Alternated
/// (off, on, off, on) so drift of the shared machine hits both alike; the best of each is reported.
/// </summary>
internal static class BillingBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var connections = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
        const string body = """{"model":"kling-v3","prompt":"a golden retriever running on the beach, sunset, cinematic","mode":"std","duration":5,"aspect_ratio":"16:9"}""";
        if (!File.Exists("/usr/bin/wrk"))
        {
            Console.Error.WriteLine("wrk is needed: apt-get install -y wrk");
            return 2;
        }

        Console.WriteLine($"wrk -t2 -c{connections} -d{seconds}s POST /v1/videos/generations, server and load generator share this machine");
        var off = new List<HttpBenchmark.WrkResult>();
        var on = new List<HttpBenchmark.WrkResult>();
        for (var round = 0; round < 2; round++)
        {
            off.Add(await MeasureAsync(billing: false, body, seconds, connections));
            on.Add(await MeasureAsync(billing: true, body, seconds, connections));
        }

        var bestOff = off.MaxBy(r => r.RequestsPerSecond)!;
        var bestOn = on.MaxBy(r => r.RequestsPerSecond)!;
        Console.WriteLine();
        Console.WriteLine("| measurement | requests/s (best of 2) | p99 latency | ratio to billing off | goal |");
        Console.WriteLine("|---|---|---|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| submit, billing off | {bestOff.RequestsPerSecond:F0} | {bestOff.P99} | 1.00× | |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| submit, billing on (price + balance check + debit + ledger line in the create transaction) | {bestOn.RequestsPerSecond:F0} | {bestOn.P99} | {bestOn.RequestsPerSecond / bestOff.RequestsPerSecond:F2}× | ≥ 0.8× |"));
        return 0;
    }

    private static async Task<HttpBenchmark.WrkResult> MeasureAsync(bool billing, string body, int seconds, int connections)
    {
        await using var kinema = await BenchKinema.StartAsync([new("Kinema:Billing:Enabled", billing ? "true" : "false")]);
        // Enough for every submit the run can make: a refusal (402) would be cheaper than a create and flatter billing.
        await kinema.App.Services.GetRequiredService<IBillingStore>().AddCreditsAsync("bench", 1_000_000_000, null, "bench", CancellationToken.None);
        Console.Write(billing ? "billing on:  " : "billing off: ");
        return await HttpBenchmark.WrkAsync($"{kinema.Url}/v1/videos/generations", seconds, connections, kinema.Key, body);
    }
}
