using System.Diagnostics;
using System.Globalization;
using Kinema.Contracts.Requests;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Configuration;

namespace Kinema.Bench;

/// <summary>Durable creates straight into the store (no HTTP): the group-commit writer's ceiling.</summary>
internal static class StoreBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var total = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
        var provider = args.Length > 2 ? args[2] : "sqlite";
        var data = Path.Combine(Path.GetTempPath(), "kinema-bench-store", Guid.NewGuid().ToString("N"));
        await using var database = await BenchDatabase.CreateAsync(provider);
        try
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(database.Settings).Build();
            await using var store = KinemaDataStore.Open(new KinemaPaths(data), configuration);
            var request = new GenerationRequest { Model = ModelNames.KlingV3, Prompt = "a golden retriever running on the beach", Duration = 5 };
            var json = SqliteTaskStore.SerializeRequest(request);
            var remaining = total;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (Interlocked.Decrement(ref remaining) >= 0)
                {
                    await store.Tasks.CreateAsync(new NewTask("bench", "animatic", request, null, "h", json), CancellationToken.None);
                }
            }));
            var seconds = clock.Elapsed.TotalSeconds;
            if (database.ConnectionString is { } postgres)
            {
                await RawNpgsqlCeilingAsync(postgres, total, json);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"store ({provider}): {total} durable creates from {concurrency} concurrent callers in {seconds:F2} s = {total / seconds:F0}/s"));
            return 0;
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    /// <summary>
    /// The same rows inserted by bare Npgsql, 512 to a statement (unnest) and a transaction, one connection: what the
    /// database itself accepts on this machine, beside which the store's number reads.
    /// </summary>
    private static async Task RawNpgsqlCeilingAsync(string connectionString, int total, string json)
    {
        const int batch = 512;
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var now = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        for (var done = 0; done < total; done += batch)
        {
            var rows = Math.Min(batch, total - done);
            var ids = Enumerable.Range(0, rows).Select(_ => TaskIds.New(now)).ToArray();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var insert = new Npgsql.NpgsqlCommand("""
                INSERT INTO tasks (id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at, request_hash)
                SELECT id, 'raw', 'kling-v3', 'animatic', @request, 'pending', 0, @now, @now, 'h' FROM unnest(@ids) AS t(id)
                """, connection, transaction);
            insert.Parameters.AddWithValue("request", json);
            insert.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("ids", ids);
            await insert.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"raw Npgsql: {total} rows, {batch} per insert and commit, one connection, in {seconds:F2} s = {total / seconds:F0}/s"));
    }
}
