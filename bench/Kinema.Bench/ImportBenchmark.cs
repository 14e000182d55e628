using System.Diagnostics;
using System.Globalization;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Postgres;
using Microsoft.Extensions.Configuration;

namespace Kinema.Bench;

/// <summary>
/// <c>import [tasks] [rounds] postgres</c> (bench/run starts the PostgreSQL): how long <c>kinema import</c> takes to move a single node's store of that many tasks into
/// an empty PostgreSQL database, against copying the same SQLite file with SQLite's own backup (<c>VACUUM INTO</c>, what
/// <c>kinema backup</c> runs) in the same run, since both read every row once.
/// </summary>
internal static class ImportBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var size = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
        var data = new KinemaPaths(Path.Combine(Path.GetTempPath(), "kinema-bench-import", Guid.NewGuid().ToString("N")));
        try
        {
            await using (var store = KinemaDataStore.Open(data, new ConfigurationBuilder().Build()))
            {
                await store.Keys.CreateAsync("bench", "bench", CancellationToken.None);
                StatusScaleBenchmark.FillSqlite(data.Database, size);
            }

            var key = SecretFile.LoadOrCreate(data.SigningKey);
            Console.WriteLine($"| round | {size:N0} tasks into PostgreSQL (kinema import) | the same file by VACUUM INTO | ratio |");
            Console.WriteLine("|---|---|---|---|");
            for (var round = 1; round <= rounds; round++)
            {
                var backup = Path.Combine(data.DataDirectory, $"backup-{round}.db");
                var clock = Stopwatch.StartNew();
                await Core.Storage.Sqlite.SqliteBackup.WriteAsync(data.Database, backup, CancellationToken.None);
                var vacuum = clock.Elapsed;

                await using var database = await BenchDatabase.CreateAsync("postgres");
                await using var target = new PostgresDatabase(database.ConnectionString!);
                await target.EnsureSchemaAsync(CancellationToken.None);
                clock.Restart();
                var rows = await SingleNodeImport.CopyRowsAsync(data.Database, key, target, CancellationToken.None);
                var import = clock.Elapsed;
                var tasks = rows.Single(r => r.Table == "tasks").Rows;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {round} | {import.TotalSeconds:F2} s ({tasks / import.TotalSeconds:N0} tasks/s) | {vacuum.TotalSeconds:F2} s | {import / vacuum:F2}× |"));
            }
        }
        finally
        {
            Directory.Delete(data.DataDirectory, recursive: true);
        }

        return 0;
    }
}
