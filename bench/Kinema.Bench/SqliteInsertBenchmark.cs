using System.Diagnostics;
using System.Globalization;
using Kinema.Core.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Kinema.Bench;

/// <summary>
/// A SQLite create's insert alone, on Kinema's schema and one connection, in transactions of a group commit's size: the
/// prepared single-row insert Kinema runs once per create, against one multi-row insert per transaction, with and
/// without the fsync, and a floor: the same insert into the tasks table stripped of every secondary index (a layout
/// Kinema cannot use, since listing, claiming and the in-flight cap need them, measured to bound what any index
/// change could gain). All run in the same process, alternating.
/// </summary>
internal static class SqliteInsertBenchmark
{
    private const string RequestJson =
        """{"model":"kling-v3","prompt":"a golden retriever running on the beach, sunset, cinematic","mode":"std","duration":5,"aspect_ratio":"16:9"}""";

    private static readonly string[] Names = ["$id", "$tenant", "$model", "$engine", "$request", "$now", "$key", "$hash", "$cost", "$key_id"];
    private static long _sequence;

    public static Task<int> RunAsync(string[] args)
    {
        var rows = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 96_000;
        var batch = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 24;
        Console.WriteLine($"{rows} rows, {batch} per transaction, one connection, Kinema's schema");
        Console.WriteLine();
        Console.WriteLine("| synchronous | insert | µs a row | of which statements | of which commit | process CPU µs a row |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var sync in new[] { "FULL", "OFF" })
        {
            foreach (var form in new[] { Form.Single, Form.Multi, Form.TableAlone, Form.Single, Form.Multi, Form.TableAlone })
            {
                var (total, statements, cpu) = Measure(sync, form, rows, batch);
                var name = form switch
                {
                    Form.Multi => $"one {batch}-row statement",
                    Form.TableAlone => $"{batch} × prepared single row, no secondary index (floor)",
                    _ => $"{batch} × prepared single row",
                };
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {sync} | {name} | {total:F1} | {statements:F1} | {total - statements:F1} | {cpu:F1} |"));
            }
        }

        return Task.FromResult(0);
    }

    private enum Form
    {
        Single,
        Multi,
        TableAlone,
    }

    private static (double Total, double Statements, double Cpu) Measure(string sync, Form form, int rows, int batch)
    {
        var multi = form == Form.Multi;
        var directory = Path.Combine(Path.GetTempPath(), "kinema-bench-insert", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            using var connection = new SqliteConnection($"Data Source={Path.Combine(directory, "kinema.db")};Pooling=false");
            connection.Open();
            SqliteDatabase.Execute(connection, "PRAGMA journal_mode=WAL;");
            SqliteDatabase.Execute(connection, $"PRAGMA synchronous={sync};");
            SqliteSchema.Apply(connection);
            if (form == Form.TableAlone)
            {
                DropSecondaryIndexes(connection);
            }

            using var insert = connection.CreateCommand();
            var columns = "id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at, idempotency_key, request_hash, cost, key_id";
            string Values(string suffix) =>
                $"($id{suffix}, $tenant{suffix}, $model{suffix}, $engine{suffix}, $request{suffix}, 'pending', 0, $now{suffix}, $now{suffix}, $key{suffix}, $hash{suffix}, $cost{suffix}, $key_id{suffix})";
            var perStatement = multi ? batch : 1;
            insert.CommandText = $"INSERT INTO tasks ({columns}) VALUES "
                + string.Join(",", Enumerable.Range(0, perStatement).Select(i => Values(multi ? i.ToString(CultureInfo.InvariantCulture) : "")));
            for (var i = 0; i < perStatement; i++)
            {
                foreach (var name in Names)
                {
                    insert.Parameters.Add(new SqliteParameter(name + (multi ? i.ToString(CultureInfo.InvariantCulture) : ""), DBNull.Value));
                }
            }

            insert.Prepare();
            using var begin = connection.CreateCommand();
            begin.CommandText = "BEGIN IMMEDIATE";
            using var commit = connection.CreateCommand();
            commit.CommandText = "COMMIT";
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var inCommit = TimeSpan.Zero;
            for (var done = 0; done < rows; done += batch)
            {
                begin.ExecuteNonQuery();
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                for (var row = 0; row < batch; row += perStatement)
                {
                    for (var i = 0; i < perStatement; i++)
                    {
                        var values = new object[]
                        {
                            "task_bench" + Interlocked.Increment(ref _sequence).ToString("D20", CultureInfo.InvariantCulture), "bench",
                            "kling-v3", "animatic", RequestJson, now, DBNull.Value, "hash", 0L, "key_bench",
                        };
                        for (var p = 0; p < Names.Length; p++)
                        {
                            insert.Parameters[i * Names.Length + p].Value = values[p];
                        }
                    }

                    insert.ExecuteNonQuery();
                }

                var before = clock.Elapsed;
                commit.ExecuteNonQuery();
                inCommit += clock.Elapsed - before;
            }

            var total = clock.Elapsed.TotalMicroseconds / rows;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / rows;
            return (total, total - inCommit.TotalMicroseconds / rows, cpu);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void DropSecondaryIndexes(SqliteConnection connection)
    {
        var names = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL";
            using var reader = list.ExecuteReader();
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }
        }

        foreach (var name in names)
        {
            SqliteDatabase.Execute(connection, $"DROP INDEX {name};");
        }
    }
}
