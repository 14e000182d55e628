using Kinema.Core;
using Kinema.Core.Storage.Postgres;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kinema.Tests.Billing;

/// <summary>The money rules on SQLite: one file, one writer.</summary>
public sealed class SqliteBillingContractTests : BillingContractTests
{
    private readonly TempDirectory _directory = new();
    private SqliteDatabase? _database;

    protected override Task<BillingNode> OpenAsync()
    {
        _database = new SqliteDatabase(new KinemaPaths(_directory.Path).Database, fullSync: false, NullLogger.Instance);
        return Task.FromResult(new BillingNode(
            new SqliteTaskStore(_database, Time, new TaskStoreOptions { MaxAttempts = 3 }),
            new SqliteUpstreamTaskStore(_database, Time, new TaskChangeFeed()),
            new SqliteBillingStore(_database, Time)));
    }

    // One SQLite file is served by one process: the "other node" is the same writer.
    protected override Task<BillingNode> OpenAnotherNodeAsync() => Task.FromResult(Node);

    protected override Task<long> ScalarAsync(string sql)
    {
        // Through the writer, as any statement that changes rows must go (and so a refused change surfaces here).
        return _database!.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
        }, CancellationToken.None);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        _directory.Dispose();
    }
}

/// <summary>The money rules on PostgreSQL, with a second node as a second process would have it.</summary>
public sealed class PostgresBillingContractTests : BillingContractTests
{
    private readonly List<IAsyncDisposable> _opened = [];
    private string _connectionString = null!;

    protected override async Task<BillingNode> OpenAsync()
    {
        _connectionString = await TestPostgres.CreateDatabaseAsync();
        return await OpenAnotherNodeAsync();
    }

    protected override Task<BillingNode> OpenAnotherNodeAsync()
    {
        var database = new PostgresDatabase(_connectionString);
        var tasks = new PostgresTaskStore(database, Time, new TaskStoreOptions { MaxAttempts = 3 }, NullLogger.Instance);
        _opened.Add(tasks);
        _opened.Add(database);
        return Task.FromResult(new BillingNode(
            tasks,
            new PostgresUpstreamTaskStore(database, Time, new TaskChangeFeed()),
            new PostgresBillingStore(database, Time)));
    }

    protected override async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var opened in _opened)
        {
            await opened.DisposeAsync();
        }

        await TestPostgres.DropDatabaseAsync(_connectionString);
    }
}
