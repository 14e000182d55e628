using System.Globalization;
using System.Text;
using System.Text.Json;
using Kinema.Contracts.Requests;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Kinema.Core.Tenants;
using Kinema.Server;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;

namespace Kinema.Bench;

/// <summary>
/// Status polls as the store grows: the p99 of <c>GET /v1/tasks/{id}</c> over random ids of a store holding 1k tasks,
/// then of one holding 1M, same provider, same run. A flat p99 means the read path is an index lookup, whatever the size.
/// </summary>
internal static class StatusScaleBenchmark
{
    /// <summary>
    /// The same number of distinct ids is polled in both stores, so the status cache behaves alike and the difference
    /// left is the store's size.
    /// </summary>
    private const int SampledIds = 1_000;

    public static async Task<int> RunAsync(string[] args)
    {
        var provider = args.Length > 0 ? args[0] : "sqlite";
        var large = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
        var seconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 6;
        var connections = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 64;
        const int rounds = 3;
        await using var small = await StoredServer.StartAsync(provider, 1_000);
        await using var big = await StoredServer.StartAsync(provider, large);
        // Alternate the two stores round by round, so a burst of noise on this shared machine hits both alike.
        var runs = new Dictionary<int, List<HttpBenchmark.WrkResult>> { [1_000] = [], [large] = [] };
        await small.MeasureAsync(2, connections);
        await big.MeasureAsync(2, connections);
        for (var round = 0; round < rounds; round++)
        {
            runs[1_000].Add(await small.MeasureAsync(seconds, connections));
            runs[large].Add(await big.MeasureAsync(seconds, connections));
        }

        Console.WriteLine();
        Console.WriteLine($"| store ({provider}) | tasks stored | median requests/s | median p99 | p99 ratio to 1k |");
        Console.WriteLine("|---|---|---|---|---|");
        var baseline = Median(runs[1_000].Select(r => r.P99Milliseconds));
        foreach (var (size, results) in runs)
        {
            var p99 = Median(results.Select(r => r.P99Milliseconds));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {provider} | {size:N0} | {Median(results.Select(r => r.RequestsPerSecond)):F0} | {p99:F2} ms | {p99 / baseline:F2}× |"));
        }

        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>A Kinema server over a store pre-filled with a number of completed tasks, and a sample of their ids.</summary>
    private sealed class StoredServer : IAsyncDisposable
    {
        private readonly BenchDatabase _database;
        private readonly Microsoft.AspNetCore.Builder.WebApplication _app;
        private readonly string _data;
        private readonly string _key;
        private readonly string _lua;
        private readonly string _firstId;

        private StoredServer(BenchDatabase database, Microsoft.AspNetCore.Builder.WebApplication app, string data, string key, string lua, string firstId)
        {
            _database = database;
            _app = app;
            _data = data;
            _key = key;
            _lua = lua;
            _firstId = firstId;
        }

        public static async Task<StoredServer> StartAsync(string provider, int size)
        {
            var data = Path.Combine(Path.GetTempPath(), "kinema-bench-scale", Guid.NewGuid().ToString("N"));
            var database = await BenchDatabase.CreateAsync(provider);
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(database.Settings).Build();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            List<string> ids;
            await using (var store = KinemaDataStore.Open(new KinemaPaths(data), configuration))
            {
                await store.Keys.ListAsync(CancellationToken.None); // creates the schema
                ids = database.ConnectionString is { } postgres
                    ? await FillPostgresAsync(postgres, size)
                    : FillSqlite(new KinemaPaths(data).Database, size);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {provider}: stored {size:N0} tasks in {clock.Elapsed.TotalSeconds:F1} s"));
            var app = KinemaServer.Build(new KinemaPaths(data), [], builder =>
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["urls"] = "http://127.0.0.1:0",
                    ["Kinema:Scheduler:Enabled"] = "false",
                    ["Logging:LogLevel:Default"] = "Warning",
                });
                builder.Configuration.AddInMemoryCollection(database.Settings);
            });
            await app.StartAsync();
            var key = (await app.Services.GetRequiredService<IApiKeyStore>().CreateAsync("bench", "bench", CancellationToken.None)).Key;
            var random = new Random(42);
            var sample = ids.Count <= SampledIds ? ids : Enumerable.Range(0, SampledIds).Select(_ => ids[random.Next(ids.Count)]).ToList();
            var lua = new StringBuilder("ids = {");
            lua.AppendJoin(",", sample.Select(id => $"\"{id}\""));
            lua.Append("}\nrequest = function() return wrk.format(\"GET\", \"/v1/tasks/\" .. ids[math.random(#ids)]) end\n");
            return new StoredServer(database, app, data, key, lua.ToString(), ids[0]);
        }

        public Task<HttpBenchmark.WrkResult> MeasureAsync(int seconds, int connections) =>
            HttpBenchmark.WrkAsync($"{_app.Urls.First()}/v1/tasks/{_firstId}", seconds, connections, _key, null, _lua);

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            await _database.DisposeAsync();
            Directory.Delete(_data, recursive: true);
        }
    }

    private static string RequestJson() => SqliteTaskStore.SerializeRequest(
        new GenerationRequest { Model = ModelNames.KlingV3, Prompt = "a golden retriever running on the beach", Duration = 5 });

    private static string ResultJson() => JsonSerializer.Serialize(
        new StoredResult { VideoName = "video.mp4", PosterName = "poster.jpg", Width = 1280, Height = 720, DurationSeconds = 5, HasAudio = true },
        StoreJsonContext.Default.StoredResult);

    internal static List<string> FillSqlite(string path, int size)
    {
        var ids = new List<string>(size);
        var now = DateTimeOffset.UtcNow;
        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.CommandText = """
            INSERT INTO tasks (id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at, finished_at,
                               result_json, request_hash)
            VALUES ($id, 'bench', 'kling-v3', 'animatic', $request, 'completed', 100, $now, $now, $now, $result, 'h')
            """;
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        insert.Parameters.AddWithValue("$request", RequestJson());
        insert.Parameters.AddWithValue("$result", ResultJson());
        insert.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        insert.Prepare();
        for (var i = 0; i < size; i++)
        {
            id.Value = TaskIds.New(now);
            insert.ExecuteNonQuery();
            ids.Add((string)id.Value);
        }

        transaction.Commit();
        return ids;
    }

    private static async Task<List<string>> FillPostgresAsync(string connectionString, int size)
    {
        var ids = new List<string>(size);
        var now = DateTimeOffset.UtcNow;
        var request = RequestJson();
        var result = ResultJson();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var importer = await connection.BeginBinaryImportAsync("""
            COPY tasks (id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at, finished_at,
                        result_json, request_hash) FROM STDIN (FORMAT BINARY)
            """))
        {
            for (var i = 0; i < size; i++)
            {
                var id = TaskIds.New(now);
                ids.Add(id);
                await importer.StartRowAsync();
                await importer.WriteAsync(id, NpgsqlDbType.Text);
                await importer.WriteAsync("bench", NpgsqlDbType.Text);
                await importer.WriteAsync("kling-v3", NpgsqlDbType.Text);
                await importer.WriteAsync("animatic", NpgsqlDbType.Text);
                await importer.WriteAsync(request, NpgsqlDbType.Text);
                await importer.WriteAsync("completed", NpgsqlDbType.Text);
                await importer.WriteAsync(100, NpgsqlDbType.Integer);
                await importer.WriteAsync(now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint);
                await importer.WriteAsync(now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint);
                await importer.WriteAsync(now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint);
                await importer.WriteAsync(result, NpgsqlDbType.Text);
                await importer.WriteAsync("h", NpgsqlDbType.Text);
            }

            await importer.CompleteAsync();
        }

        await using var analyze = new NpgsqlCommand("ANALYZE tasks", connection);
        await analyze.ExecuteNonQueryAsync();
        return ids;
    }
}
