using System.CommandLine;
using Kinema.Core;
using Kinema.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Cli.Commands;

/// <summary><c>kinema serve</c>: runs the API server on a data directory.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string?>("--urls") { Description = "Where to listen (default http://127.0.0.1:8080)." };
        var data = CommonOptions.Data();
        var command = new Command("serve", "Run the API server.") { urls, data };
        command.SetAction(async (result, _) =>
        {
            var paths = KinemaPaths.Resolve(result.GetValue(data));
            Directory.CreateDirectory(paths.DataDirectory);
            using var dataLock = DataDirectoryLock.TryAcquire(paths);
            if (dataLock is null)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema serve: another Kinema server is already using {paths.DataDirectory}; stop it or pass another --data");
                return ExitCodes.Usage;
            }

            if (Core.Storage.KinemaDataStore.ImportedInto(paths) is { } imported
                && !Core.Storage.StoreProviders.IsPostgres(Core.Storage.KinemaDataStore.ConfigurationFor(paths)))
            {
                await Console.Error.WriteLineAsync(
                    $"kinema serve: {paths.DataDirectory} was imported into PostgreSQL ({imported}); "
                    + "serving it on SQLite again would split its clients' tasks between two stores. Serve it with Kinema:Store:Provider=postgres, "
                    + $"or delete {paths.ImportedMarker} to serve the old copy on SQLite anyway");
                return ExitCodes.Usage;
            }

            var hostArgs = result.GetValue(urls) is { Length: > 0 } listen ? new[] { "--urls", listen } : [];
            WebApplication app;
            try
            {
                // Start-up failures are told below in one line (or, for a bug, with the exception): the host's own log of
                // them would print a stack trace first for a wrong setting or a database that is down.
                app = KinemaServer.Build(paths, hostArgs,
                    builder => builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None), createFirstKey: true);
                await app.StartAsync();
            }
            catch (OptionsValidationException exception)
            {
                // Name the section, so the message says which key to change (Kinema:Scheduler:Workers, KINEMA__SCHEDULER__WORKERS).
                var section = exception.OptionsType.GetField("Section")?.GetValue(null) as string ?? exception.OptionsType.Name;
                await Console.Error.WriteLineAsync($"kinema serve: invalid configuration in {section} (environment: {section.Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant()}__…):");
                foreach (var failure in exception.Failures)
                {
                    await Console.Error.WriteLineAsync("  " + failure);
                }

                return ExitCodes.Usage;
            }
            catch (Kinema.Engines.Animatic.FfmpegMissingException exception)
            {
                await Console.Error.WriteLineAsync("kinema serve: " + exception.Message);
                return ExitCodes.Usage;
            }
            catch (IOException exception) when (exception.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                await Console.Error.WriteLineAsync($"kinema serve: {exception.Message}; pass another --urls");
                return ExitCodes.Usage;
            }

            await using (app)
            {
                var firstKey = app.Services.GetRequiredService<FirstApiKey>();
                Console.WriteLine($"Kinema is listening on {string.Join(", ", app.Urls)} (data: {paths.DataDirectory})");
                Console.WriteLine($"API docs: {app.Urls.First()}/docs");
                if (firstKey.Created is { } created)
                {
                    Console.WriteLine(firstKey.NotSavedBecause is { } reason
                        ? $"First start: created an API key. It is shown only once, and it could NOT be saved for the CLI in {paths.CliKey} ({reason}). Keep it now:"
                        : $"First start: created an API key. It is shown only once (also saved for the CLI in {paths.CliKey}):");
                    Console.WriteLine(created.Key);
                }

                await app.WaitForShutdownAsync();
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
