using Kinema.Core;
using Kinema.Core.Tenants;
using Kinema.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.Bench;

/// <summary>
/// A Kinema server on loopback set up for the HTTP benchmarks: the API alone, one key and a data directory of its own,
/// removed again at disposal.
/// </summary>
internal sealed class BenchKinema : IAsyncDisposable
{
    private readonly string _data;

    private BenchKinema(WebApplication app, string data, string key)
    {
        App = app;
        _data = data;
        Key = key;
    }

    public WebApplication App { get; }

    public string Url => App.Urls.First();

    /// <summary>The bearer key of the tenant <c>bench</c>.</summary>
    public string Key { get; }

    public static async Task<BenchKinema> StartAsync(IEnumerable<KeyValuePair<string, string?>>? settings = null)
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-bench", Guid.NewGuid().ToString("N"));
        var app = KinemaServer.Build(new KinemaPaths(data), [], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["urls"] = "http://127.0.0.1:0",
                // The API alone is measured: no renders competing for the two cores.
                ["Kinema:Scheduler:Enabled"] = "false",
                ["Logging:LogLevel:Default"] = "Warning",
                // One key drives all the load: its rate limit must not be what is measured.
                ["Kinema:RateLimits:RequestsPerMinute"] = "10000000",
            });
            builder.Configuration.AddInMemoryCollection(settings ?? []);
        });
        await app.StartAsync();
        var key = (await app.Services.GetRequiredService<IApiKeyStore>().CreateAsync("bench", null, CancellationToken.None)).Key;
        return new BenchKinema(app, data, key);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }
}
