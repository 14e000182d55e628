using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;
using Microsoft.Extensions.Configuration;

namespace Kinema.Cli.Commands;

/// <summary>
/// <c>kinema backup DIR</c>: a consistent copy of a SQLite data directory while its server runs: the database, the key
/// that signs result links, the directory's settings, and with <c>--results</c> the result files. Restoring is serving
/// from that directory.
/// </summary>
internal static class BackupCommand
{
    // The key that signs result links, the key serve saved for the CLI, and the directory's own settings (which may
    // hold upstream keys): each kept readable by its owner only.
    private static readonly string[] PrivateFiles = ["signing.key", "cli.key", "appsettings.json"];

    public static Command Create()
    {
        var directory = new Argument<string>("directory") { Description = "Where to write the backup (created if missing; an earlier backup there is replaced)." };
        var results = new Option<bool>("--results")
        {
            Description = "Also copy the result files (videos, posters, uploads). Files already in the backup are not copied again.",
        };
        var data = CommonOptions.Data();
        var command = new Command("backup", "Back up the data directory while the server runs: the SQLite store, its signing key, optionally the results.")
        {
            directory, results, data,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var paths = KinemaPaths.Resolve(result.GetValue(data));
            var target = new KinemaPaths(Path.GetFullPath(result.GetValue(directory)!));
            var configuration = KinemaDataStore.ConfigurationFor(paths);
            if (StoreProviders.IsPostgres(configuration))
            {
                await Console.Error.WriteLineAsync(
                    "kinema backup: the task store is PostgreSQL (Kinema:Store:Provider); back it up with pg_dump, and results with your storage's own tools");
                return ExitCodes.Usage;
            }

            if (string.Equals(Path.TrimEndingDirectorySeparator(target.DataDirectory), Path.TrimEndingDirectorySeparator(Path.GetFullPath(paths.DataDirectory)),
                    StringComparison.Ordinal))
            {
                await Console.Error.WriteLineAsync("kinema backup: the backup directory must not be the data directory itself");
                return ExitCodes.Usage;
            }

            var clock = Stopwatch.StartNew();
            try
            {
                Directory.CreateDirectory(target.DataDirectory);
            }
            catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"kinema backup: cannot make the backup directory {target.DataDirectory}: {failure.Message}");
                return ExitCodes.Usage;
            }

            SqliteBackupSummary summary;
            try
            {
                summary = await SqliteBackup.WriteAsync(paths.Database, target.Database, cancellationToken);
            }
            catch (FileNotFoundException missing)
            {
                await Console.Error.WriteLineAsync($"kinema backup: {missing.Message} (pass --data, or set KINEMA_DATA)");
                return ExitCodes.Usage;
            }
            catch (Exception failure) when (failure is InvalidDataException or Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"kinema backup: {failure.Message}; no earlier backup in {target.DataDirectory} was changed");
                return ExitCodes.TaskFailed;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Backed up {Count(summary.Tasks, "task")} and {Count(summary.ApiKeys, "API key")} to {target.Database} ({Size(summary.Bytes)}, integrity ok) in {clock.Elapsed.TotalSeconds:0.0} s."));
            try
            {
                foreach (var name in PrivateFiles)
                {
                    CopyPrivateFile(Path.Combine(paths.DataDirectory, name), Path.Combine(target.DataDirectory, name));
                }

                Console.WriteLine(ResultsLine(configuration, paths, target, result.GetValue(results)));
            }
            catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema backup: the database is backed up, but copying the other files to {target.DataDirectory} failed: {failure.Message}");
                return ExitCodes.TaskFailed;
            }

            Console.WriteLine($"To restore: stop the server, then serve from the backup (kinema serve --data {target.DataDirectory}) or copy its files into the data directory.");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string ResultsLine(IConfiguration configuration, KinemaPaths paths, KinemaPaths target, bool copy)
    {
        if (string.Equals(configuration[ResultStorageOptions.Section + ":Provider"], ResultStorageOptions.S3Provider, StringComparison.OrdinalIgnoreCase))
        {
            return $"Results are in the S3 bucket '{configuration[ResultStorageOptions.Section + ":S3:Bucket"]}': back them up with the store's own tools.";
        }

        var source = configuration["Kinema:Storage:Disk:Path"] is { Length: > 0 } shared ? Path.GetFullPath(shared) : paths.Results;
        if (!copy)
        {
            return $"Results were not copied: pass --results, or copy {source} yourself (a result file never changes once written).";
        }

        var (copied, bytes, present) = CopyResults(source, target.Results);
        return string.Create(CultureInfo.InvariantCulture, $"Results: copied {copied} files ({Size(bytes)}); {present} were already in the backup.");
    }

    /// <summary>
    /// Copies what the backup lacks. A result is written once, to a <c>.partial</c> file renamed into place, so a file of
    /// the same size and no newer time is already backed up, and a <c>.partial</c> is a save still under way.
    /// </summary>
    private static (int Copied, long Bytes, int Present) CopyResults(string source, string destination)
    {
        var copied = 0;
        var present = 0;
        long bytes = 0;
        if (!Directory.Exists(source))
        {
            return (0, 0, 0);
        }

        foreach (var file in new DirectoryInfo(source).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            if (file.Name.EndsWith(".partial", StringComparison.Ordinal))
            {
                continue;
            }

            var target = new FileInfo(Path.Combine(destination, Path.GetRelativePath(source, file.FullName)));
            if (target.Exists && target.Length == file.Length && target.LastWriteTimeUtc >= file.LastWriteTimeUtc)
            {
                present++;
                continue;
            }

            Directory.CreateDirectory(target.DirectoryName!);
            var staging = target.FullName + ".partial";
            try
            {
                file.CopyTo(staging, overwrite: true);
            }
            catch (FileNotFoundException)
            {
                // Deleted meanwhile (an expired upload): there is nothing to keep.
                continue;
            }

            File.SetLastWriteTimeUtc(staging, file.LastWriteTimeUtc);
            File.Move(staging, target.FullName, overwrite: true);
            copied++;
            bytes += file.Length;
        }

        return (copied, bytes, present);
    }

    private static void CopyPrivateFile(string source, string destination)
    {
        if (!File.Exists(source))
        {
            return;
        }

        File.Copy(source, destination, overwrite: true);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(destination, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static string Count(long count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";

    internal static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
    };
}
