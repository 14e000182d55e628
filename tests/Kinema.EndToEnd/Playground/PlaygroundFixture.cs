using Kinema.Testing;
using Kinema.Core.Tenants;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Kinema.EndToEnd.Playground;

/// <summary>
/// One real Kinema server and one headless Chromium (Debian's, at <c>/usr/bin/chromium</c>: nothing is downloaded)
/// shared by the playground tests. Every test opens its own browser context, so storage never leaks between tests.
/// </summary>
public sealed class PlaygroundFixture : IAsyncLifetime
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic",
    ];

    private IPlaywright? _playwright;

    internal KinemaTestServer Server { get; private set; } = null!;
    internal IBrowser Browser { get; private set; } = null!;
    internal string Downloads { get; } = Path.Combine(Path.GetTempPath(), "kinema-e2e-downloads", Guid.NewGuid().ToString("N"));

    /// <summary>Where screenshots go: <c>artifacts/test-results/screenshots/</c> under the repository root.</summary>
    internal static string ScreenshotDirectory { get; } = Path.Combine(Repository.Root, "artifacts", "test-results", "screenshots");

    public async ValueTask InitializeAsync()
    {
        // Billing on, as a team would run it, so the page's balance and task costs are exercised; every key the tests
        // use holds far more credits than they spend.
        Server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Billing:Enabled"] = "true" });
        foreach (var tenant in new[] { "alice", "bob" })
        {
            await GrantAsync(tenant, Plenty);
        }

        _playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Playwright gives every launch a fresh temporary user-data dir (and refuses --user-data-dir in Args), so no
            // state of an earlier run is ever read.
            Args = ChromiumArgs,
            Timeout = 60_000,
        });
    }

    /// <summary>A key of a tenant of its own, so a test can count its tasks without seeing other tests'.</summary>
    internal async Task<string> NewTenantKeyAsync(string name)
    {
        var keys = Server.Services.GetRequiredService<IApiKeyStore>();
        var tenant = name + "-" + Guid.NewGuid().ToString("N")[..8];
        var key = (await keys.CreateAsync(tenant, tenant, CancellationToken.None)).Key;
        await GrantAsync(tenant, Plenty);
        return key;
    }

    /// <summary>Credits enough for any test's tasks.</summary>
    internal const long Plenty = 1_000_000;

    internal Task GrantAsync(string tenant, long credits) =>
        Server.Services.GetRequiredService<Kinema.Core.Billing.IBillingStore>()
            .AddCreditsAsync(tenant, credits, null, "playground tests", CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        await Server.DisposeAsync();
        foreach (var directory in new[] { Downloads })
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
            catch (IOException)
            {
            }
        }
    }
}
