using System.Net;
using System.Net.Http.Headers;
using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd.Cli;

/// <summary>The first key <c>kinema serve</c> makes is in <c>cli.key</c> by the time the server answers.</summary>
public sealed class FirstKeyTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "kinema-first-key", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task The_first_key_is_saved_before_the_server_answers_and_is_the_one_printed()
    {
        // What the README's start-up does: wait for /healthz, then read the key. No wait for any log line here.
        await using var server = await ServerProcess.StartAsync(_data, waitForStartLine: false);
        var path = new KinemaPaths(_data).CliKey;
        File.Exists(path).Should().BeTrue("a script that saw the server answer reads the key next");
        var key = (await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken)).Trim();

        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await client.GetAsync(new Uri("/v1/tasks", UriKind.Relative), TestContext.Current.CancellationToken);
        response.StatusCode.Should().Be(HttpStatusCode.OK, "the saved key is a working key");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!server.Output.Contains(key, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        server.Output.Should().Contain("First start").And.Contain(key, "the key printed once is the one saved");
    }

    [Fact]
    public async Task A_first_key_that_cannot_be_saved_is_still_printed_and_the_server_still_starts()
    {
        // A directory where cli.key belongs: no user, root included, can write that file.
        Directory.CreateDirectory(new KinemaPaths(_data).CliKey);
        await using var server = await ServerProcess.StartAsync(_data, waitForStartLine: true);

        string? printed = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (printed is null && DateTime.UtcNow < deadline)
        {
            printed = server.Output.Split('\n').Select(line => line.Trim())
                .FirstOrDefault(line => line.StartsWith(Core.Tenants.ApiKeyFormat.Prefix, StringComparison.Ordinal));
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        printed.Should().NotBeNull("the key is in the store now, and later starts make no other: the console is its last way out");
        server.Output.Should().Contain("could NOT be saved for the CLI").And.Contain("could not be saved to",
            "the warning in the log names the file and what to do");
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", printed);
        using var response = await client.GetAsync(new Uri("/v1/tasks", UriKind.Relative), TestContext.Current.CancellationToken);
        response.StatusCode.Should().Be(HttpStatusCode.OK, "the printed key is a working key");
    }

    [Fact]
    public async Task An_unwritable_key_file_is_reported_and_the_key_kept()
    {
        Directory.CreateDirectory(new KinemaPaths(_data).CliKey);
        await using var app = Server.KinemaServer.Build(new KinemaPaths(_data), ["--urls", "http://127.0.0.1:0"], createFirstKey: true);
        await app.StartAsync(TestContext.Current.CancellationToken);

        var first = app.Services.GetRequiredService<Server.FirstApiKey>();
        first.Created.Should().NotBeNull();
        first.NotSavedBecause.Should().NotBeNullOrEmpty();
        var keys = app.Services.GetRequiredService<Core.Tenants.IApiKeyStore>();
        (await keys.FindValidAsync(first.Created!.Key, TestContext.Current.CancellationToken)).Should().NotBeNull("the key made is in the store");
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task The_first_key_starts_after_the_store_and_before_the_web_server()
    {
        await using var app = Server.KinemaServer.Build(new KinemaPaths(_data), [], createFirstKey: true);
        var started = app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Select(service => service.GetType().Name).ToList();

        // The host starts its hosted services in this order, one after another.
        started.Should().Contain(["FirstApiKey", "GenericWebHostService"]);
        started.IndexOf("FirstApiKey").Should().BeLessThan(started.IndexOf("GenericWebHostService"), "Kestrel listens only once the key is saved");
        started.Last().Should().Be("GenericWebHostService");
    }

    [Fact]
    public async Task On_a_new_PostgreSQL_database_the_first_key_is_made_after_the_schema_migrations()
    {
        var database = await TestPostgres.CreateDatabaseAsync();
        try
        {
            await using var app = Server.KinemaServer.Build(new KinemaPaths(_data), ["--urls", "http://127.0.0.1:0"], builder =>
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Kinema:Store:Provider"] = "postgres",
                    ["ConnectionStrings:Kinema"] = database,
                }), createFirstKey: true);
            var started = app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Select(service => service.GetType().Name).ToList();
            started.IndexOf("PostgresStartup").Should().BeInRange(0, started.IndexOf("FirstApiKey") - 1, "the keys table comes first");

            await app.StartAsync(TestContext.Current.CancellationToken);

            var made = app.Services.GetRequiredService<Server.FirstApiKey>().Created;
            made.Should().NotBeNull("the new database had no key");
            (await File.ReadAllTextAsync(new KinemaPaths(_data).CliKey, TestContext.Current.CancellationToken)).Trim().Should().Be(made!.Key);
            await app.StopAsync(TestContext.Current.CancellationToken);
        }
        finally
        {
            await TestPostgres.DropDatabaseAsync(database);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
