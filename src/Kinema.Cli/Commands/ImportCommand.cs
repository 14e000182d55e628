using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Postgres;
using Kinema.Storage.S3;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Kinema.Cli.Commands;

/// <summary>
/// <c>kinema import --from DIR</c>: moves a single node's data directory into the shared store and storage that the
/// environment configures (as for <c>serve</c> on several nodes), so a deployment that outgrows one node keeps its tasks,
/// keys, balances, webhooks and the links it has handed out.
/// </summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from")
        {
            Description = "The single node's data directory (its kinema.db, signing.key and results/). Stop its server first.",
            Required = true,
        };
        var results = new Option<string?>("--results")
        {
            Description = "Where that node kept its result files, if not under --from (its Kinema:Storage:Disk:Path).",
        };
        var dryRun = new Option<bool>("--dry-run")
        {
            Description = "Say what would be imported and whether the destination can take it, and write nothing (the node may still run).",
        };
        var command = new Command("import",
            "Move a single node's data directory into the shared PostgreSQL store and S3 storage that the environment configures.")
        {
            from, results, dryRun,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var source = new KinemaPaths(Path.GetFullPath(result.GetValue(from)!));
            var sourceResults = Path.GetFullPath(result.GetValue(results) ?? source.Results);
            // The destination is what the nodes will be started with: the environment, never the source's own settings.
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
            if (!StoreProviders.IsPostgres(configuration))
            {
                await Console.Error.WriteLineAsync(
                    "kinema import: the destination is PostgreSQL: set Kinema:Store:Provider=postgres and ConnectionStrings:Kinema "
                    + "(KINEMA__STORE__PROVIDER, ConnectionStrings__Kinema), as for the nodes that will serve the data");
                return ExitCodes.Usage;
            }

            var connectionString = StoreProviders.ConnectionString(configuration)
                ?? throw new StoreConfigurationException("Kinema:Store:Provider is 'postgres' but ConnectionStrings:Kinema is not set.");
            if (!File.Exists(source.Database))
            {
                await Console.Error.WriteLineAsync($"kinema import: there is no Kinema store at {source.Database} (pass the data directory of a node that ran on SQLite)");
                return ExitCodes.Usage;
            }

            using var sourceLock = DataDirectoryLock.TryAcquire(source);
            if (sourceLock is null && !result.GetValue(dryRun))
            {
                await Console.Error.WriteLineAsync(
                    $"kinema import: a server is running on {source.DataDirectory} (it holds {source.LockFile}); stop it first, so nothing it accepts after the copy is left behind");
                return ExitCodes.Usage;
            }

            var storage = OpenDestinationStorage(configuration, source, out var storageName, out var storageError);
            if (storageError is not null)
            {
                await Console.Error.WriteLineAsync($"kinema import: {storageError}");
                return ExitCodes.Usage;
            }

            var clock = Stopwatch.StartNew();
            await using var target = new PostgresDatabase(connectionString);
            var database = DescribeDatabase(connectionString);
            try
            {
                // Checked before the files move, so a refused import copies nothing; checked again under lock with the rows.
                if (await SingleNodeImport.FindExistingRowsAsync(target, cancellationToken) is { Count: > 0 } found)
                {
                    throw new ImportTargetNotEmptyException(found);
                }

                if (result.GetValue(dryRun))
                {
                    var (count, size) = SingleNodeImport.CountFiles(sourceResults);
                    if (storage is not null)
                    {
                        // A lookup the storage answers whether or not the file exists; an unreachable one throws.
                        await storage.FindAsync("task_import_dry_run", "probe", cancellationToken);
                    }

                    Console.WriteLine($"Would import {source.DataDirectory} into PostgreSQL ({database}):");
                    Console.WriteLine($"  {SingleNodeImport.Describe(await SingleNodeImport.CountSourceAsync(source.Database, cancellationToken))}");
                    Console.WriteLine(storage is null
                        ? $"  result files: {count} ({BackupCommand.Size(size)}), left in {sourceResults}, where {storageName} points"
                        : $"  result files: {count} ({BackupCommand.Size(size)}) to {storageName}, which answers");
                    Console.WriteLine("The database is empty. Nothing was written; run without --dry-run to import"
                        + (sourceLock is null ? $", once the server running on {source.DataDirectory} has stopped." : "."));
                    return ExitCodes.Success;
                }

                var files = (Copied: 0, Bytes: 0L, Present: 0);
                if (storage is not null)
                {
                    // A large directory takes minutes to upload: say what is happening, then how far it got every 10 s.
                    Console.WriteLine($"Copying the result files in {sourceResults} to {storageName}…");
                    var lastReport = Stopwatch.StartNew();
                    var gate = new object();
                    files = await SingleNodeImport.CopyFilesAsync(sourceResults, storage, done =>
                    {
                        lock (gate)
                        {
                            if (lastReport.Elapsed >= TimeSpan.FromSeconds(10))
                            {
                                lastReport.Restart();
                                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  … {done} files so far"));
                            }
                        }
                    }, cancellationToken);
                }

                var rows = await SingleNodeImport.CopyRowsAsync(
                    source.Database, SecretFile.LoadOrCreate(source.SigningKey), target, cancellationToken);
                var marked = true;
                try
                {
                    await File.WriteAllTextAsync(source.ImportedMarker, string.Create(CultureInfo.InvariantCulture,
                        $"{database}, {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC") + "\n", CancellationToken.None);
                }
                catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
                {
                    marked = false;
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Imported {source.DataDirectory} into PostgreSQL ({database}) in {clock.Elapsed.TotalSeconds:0.0} s:"));
                Console.WriteLine($"  {SingleNodeImport.Describe(rows)}");
                Console.WriteLine(storage is null
                    ? $"  result files: left in {sourceResults}, where {storageName} points"
                    : string.Create(CultureInfo.InvariantCulture,
                        $"  result files: {files.Copied} copied to {storageName} ({BackupCommand.Size(files.Bytes)}), {files.Present} already there"));
                Console.WriteLine("  the key that signs result links, so every link handed out before keeps working");
                Console.WriteLine($"Start the nodes on this database now. Keep {source.DataDirectory} until they serve its tasks; "
                    + (marked ? "serve on SQLite now refuses it." : $"do not serve it on SQLite again ({source.ImportedMarker} could not be written)."));
                return ExitCodes.Success;
            }
            catch (ImportTargetNotEmptyException notEmpty)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema import: {notEmpty.Message}, so nothing was imported; an import never merges two stores. Import into a new "
                    + "database before any node starts on it (a node starting on an empty database makes a first key)");
                return ExitCodes.Usage;
            }
            catch (ResultStorageUnavailableException unavailable)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema import: {unavailable.Message}; nothing was written to the database, and running the import again copies only the files still missing");
                return ExitCodes.Unreachable;
            }
            finally
            {
                (storage as IDisposable)?.Dispose();
            }
        });
        return command;
    }

    /// <summary>
    /// The storage the nodes will use, or null when it is the directory the results already are in. A disk destination
    /// without <c>Kinema:Storage:Disk:Path</c> is the source's own <c>results/</c>, for one node moving to PostgreSQL alone.
    /// </summary>
    private static IResultStorage? OpenDestinationStorage(IConfiguration configuration, KinemaPaths source, out string name, out string? error)
    {
        error = null;
        var provider = configuration[ResultStorageOptions.Section + ":Provider"] ?? ResultStorageOptions.DiskProvider;
        if (string.Equals(provider, ResultStorageOptions.S3Provider, StringComparison.OrdinalIgnoreCase))
        {
            var services = new ServiceCollection().AddS3ResultStorage(configuration).BuildServiceProvider();
            try
            {
                var options = services.GetRequiredService<IOptions<S3StorageOptions>>().Value;
                name = $"the S3 bucket '{options.Bucket}'";
                return services.GetRequiredService<IResultStorage>();
            }
            catch (OptionsValidationException invalid)
            {
                name = "";
                error = string.Join("; ", invalid.Failures);
                return null;
            }
        }

        if (!string.Equals(provider, ResultStorageOptions.DiskProvider, StringComparison.OrdinalIgnoreCase))
        {
            name = "";
            error = $"{ResultStorageOptions.Section}:Provider must be '{ResultStorageOptions.DiskProvider}' or '{ResultStorageOptions.S3Provider}', not '{provider}'";
            return null;
        }

        var root = configuration["Kinema:Storage:Disk:Path"] is { Length: > 0 } shared ? Path.GetFullPath(shared) : source.Results;
        name = $"the directory {root}";
        return string.Equals(Path.TrimEndingDirectorySeparator(root), Path.TrimEndingDirectorySeparator(source.Results), StringComparison.Ordinal)
            ? null
            : new DiskResultStorage(root);
    }

    private static string DescribeDatabase(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        return string.Create(CultureInfo.InvariantCulture, $"{builder.Host}:{builder.Port}/{builder.Database}");
    }
}
