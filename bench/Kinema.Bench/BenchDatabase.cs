using Npgsql;

namespace Kinema.Bench;

/// <summary>
/// The store a benchmark runs on: SQLite in the data directory (no settings), or a fresh database in the PostgreSQL
/// server named by <c>KINEMA_BENCH_POSTGRES</c> (bench/run starts one), dropped afterwards.
/// </summary>
internal sealed class BenchDatabase : IAsyncDisposable
{
    private readonly string? _server;

    private BenchDatabase(string? server, string? connectionString)
    {
        _server = server;
        ConnectionString = connectionString;
    }

    public string? ConnectionString { get; }

    public IDictionary<string, string?> Settings => ConnectionString is null
        ? new Dictionary<string, string?>()
        : new Dictionary<string, string?> { ["Kinema:Store:Provider"] = "postgres", ["ConnectionStrings:Kinema"] = ConnectionString };

    public static async Task<BenchDatabase> CreateAsync(string provider)
    {
        if (provider != "postgres")
        {
            return new BenchDatabase(null, null);
        }

        var server = Environment.GetEnvironmentVariable("KINEMA_BENCH_POSTGRES")
            ?? throw new InvalidOperationException("KINEMA_BENCH_POSTGRES is not set: run the benchmark through bench/run");
        var name = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new BenchDatabase(server, new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is null || ConnectionString is null)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_server);
        await connection.OpenAsync();
        var name = new NpgsqlConnectionStringBuilder(ConnectionString).Database;
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
