using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Tenants;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Kinema.EndToEnd.Billing;

/// <summary>
/// A task's failure and its refund are one transaction, so no crash can separate them: the server is killed with
/// SIGKILL again and again while tasks are failing, and after the last restart every failed task has exactly one refund.
/// </summary>
public sealed class BillingCrashTests : IAsyncDisposable
{
    private const long Grant = 100_000;
    private readonly string _data = Path.Combine(Path.GetTempPath(), "kinema-billing-crash", Guid.NewGuid().ToString("N"));
    private string? _postgres;

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Killed_repeatedly_while_tasks_fail_every_failed_task_is_refunded_exactly_once(string provider)
    {
        var environment = new Dictionary<string, string>
        {
            ["KINEMA__BILLING__ENABLED"] = "true",
            ["KINEMA__SCHEDULER__WORKERS"] = "4",
        };
        if (provider == "postgres")
        {
            _postgres = await TestPostgres.CreateDatabaseAsync();
            environment["KINEMA__STORE__PROVIDER"] = "postgres";
            environment["ConnectionStrings__Kinema"] = _postgres;
            // A killed node's claimed tasks come back after its lease; keep it short so the test waits seconds, not minutes.
            environment["KINEMA__SCHEDULER__LEASEDURATION"] = "00:00:03";
            environment["KINEMA__SCHEDULER__HEARTBEATINTERVAL"] = "00:00:00.500";
        }

        var storeSettings = new ConfigurationBuilder()
            .AddInMemoryCollection(environment.Select(pair => KeyValuePair.Create(pair.Key.Replace("__", ":", StringComparison.Ordinal), (string?)pair.Value)))
            .Build();

        // Images that take a moment and then fail, so kills land before, during and after failures commit.
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var images = builder.Build();
        images.MapGet("/slow-500.png", async () =>
        {
            await Task.Delay(Random.Shared.Next(50, 400));
            return Results.StatusCode(StatusCodes.Status500InternalServerError);
        });
        await images.StartAsync();
        var imageUrl = images.Urls.First() + "/slow-500.png";

        string key;
        var paths = new KinemaPaths(_data);
        await using (var store = KinemaDataStore.Open(paths, storeSettings))
        {
            key = (await store.Keys.CreateAsync(new NewApiKey("crash"), CancellationToken.None)).Key;
            await store.Billing.AddCreditsAsync("crash", Grant, null, "seed", CancellationToken.None);
        }

        var ids = new List<string>();
        for (var round = 0; round < 5; round++)
        {
            await using var server = await ServerProcess.StartAsync(_data, environment);
            using var client = server.ClientFor(key);
            for (var i = 0; i < 8; i++)
            {
                ids.Add(await client.CreateAsync(
                    $$"""{"model":"kling-v3","prompt":"round {{round}} task {{i}}","duration":5,"image_urls":["{{imageUrl}}"]}"""));
            }

            await Task.Delay(Random.Shared.Next(200, 1200));
            await server.KillAsync();
        }

        await using (var last = await ServerProcess.StartAsync(_data, environment))
        {
            using var client = last.ClientFor(key);
            foreach (var id in ids)
            {
                var task = await client.WaitForTerminalAsync(id, TimeSpan.FromMinutes(3));
                task.GetProperty("status").GetString().Should().Be("failed", task.ToString());
                task.GetProperty("refunded").GetBoolean().Should().BeTrue(task.ToString());
            }

            await last.TerminateAsync(TimeSpan.FromSeconds(30));
        }

        await using var books = KinemaDataStore.Open(paths, storeSettings);
        books.Provider.Should().Be(provider);
        (await books.ScalarAsync("SELECT COUNT(*) FROM tasks WHERE status = 'failed'")).Should().Be(ids.Count);
        (await books.ScalarAsync("""
            SELECT COUNT(*) FROM tasks t WHERE (SELECT COUNT(*) FROM ledger l WHERE l.task_id = t.id AND l.kind = 'refund') <> 1
            """)).Should().Be(0, "every failed task has exactly one refund");
        (await books.ScalarAsync("""
            SELECT COUNT(*) FROM tasks t WHERE (SELECT COUNT(*) FROM ledger l WHERE l.task_id = t.id AND l.kind = 'charge') <> 1
            """)).Should().Be(0, "every task was charged exactly once");
        (await books.ScalarAsync("SELECT balance FROM tenants WHERE id = 'crash'")).Should().Be(Grant, "every charge came back");
        (await books.ScalarAsync("SELECT SUM(amount) FROM ledger WHERE tenant_id = 'crash'")).Should().Be(Grant, "the ledger sums to the balance");
    }


    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await TestPostgres.DropDatabaseAsync(_postgres);
        }

        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
