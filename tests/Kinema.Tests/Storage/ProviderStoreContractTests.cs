using Kinema.Core;
using Kinema.Core.RateLimits;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Postgres;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kinema.Tests.Storage;

/// <summary>The store contract on SQLite: one file, one writer.</summary>
public sealed class SqliteStoreContractTests : StoreContractTests
{
    private readonly TempDirectory _directory = new();
    private SqliteDatabase? _database;

    protected override Task<StoreNode> OpenAsync()
    {
        _database = new SqliteDatabase(new KinemaPaths(_directory.Path).Database, fullSync: false, NullLogger.Instance);
        var feed = new TaskChangeFeed();
        return Task.FromResult(new StoreNode(
            new SqliteTaskStore(_database, Time, new TaskStoreOptions { MaxAttempts = 3 }),
            new SqliteUpstreamTaskStore(_database, Time, feed),
            new SqliteWebhookStore(_database, Time),
            new SqliteApiKeyStore(_database, Time),
            new InMemoryRateLimitStore(Time)));
    }

    // One SQLite file is served by one process: the "other node" is the same writer.
    protected override Task<StoreNode> OpenAnotherNodeAsync() => Task.FromResult(Node);

    protected override async Task<long> CountAsync(string condition)
    {
        await using var reopened = KinemaDataStore.Open(new KinemaPaths(_directory.Path));
        return await reopened.CountAsync(condition);
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

/// <summary>The store contract on PostgreSQL, with a second node as a second process would have it.</summary>
public sealed class PostgresStoreContractTests : StoreContractTests
{
    private readonly List<IAsyncDisposable> _opened = [];
    private string _connectionString = null!;

    protected override async Task<StoreNode> OpenAsync()
    {
        _connectionString = await TestPostgres.CreateDatabaseAsync();
        return await OpenAnotherNodeAsync();
    }

    protected override Task<StoreNode> OpenAnotherNodeAsync()
    {
        var database = new PostgresDatabase(_connectionString);
        var tasks = new PostgresTaskStore(database, Time, new TaskStoreOptions { MaxAttempts = 3 }, NullLogger.Instance);
        _opened.Add(tasks);
        _opened.Add(database);
        return Task.FromResult(new StoreNode(
            tasks,
            new PostgresUpstreamTaskStore(database, Time, new TaskChangeFeed()),
            new PostgresWebhookStore(database, Time),
            new PostgresApiKeyStore(database, Time),
            new PostgresRateLimitStore(database, Time)));
    }

    protected override async Task<long> CountAsync(string condition)
    {
        await using var connection = new Npgsql.NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand($"SELECT COUNT(*) FROM tasks WHERE {condition}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Nodes_starting_at_once_migrate_once_and_share_one_signing_key()
    {
        var fresh = await TestPostgres.CreateDatabaseAsync();
        try
        {
            var databases = Enumerable.Range(0, 4).Select(_ => new PostgresDatabase(fresh)).ToList();
            await Task.WhenAll(databases.Select(d => d.EnsureSchemaAsync(CancellationToken.None)));
            var keys = await Task.WhenAll(databases.Select(d => Task.Run(() => PostgresSigningKey.Create(d).Value)));

            keys.Select(Convert.ToHexString).Distinct().Should().ContainSingle();
            keys[0].Length.Should().BeGreaterThanOrEqualTo(32);
            await using var connection = new Npgsql.NpgsqlConnection(fresh);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand("SELECT COUNT(*), MAX(version) FROM schema_migrations", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            reader.GetInt64(0).Should().Be(PostgresSchema.CurrentVersion);
            reader.GetInt32(1).Should().Be(PostgresSchema.CurrentVersion);
            foreach (var database in databases)
            {
                await database.DisposeAsync();
            }
        }
        finally
        {
            await TestPostgres.DropDatabaseAsync(fresh);
        }
    }

    [Theory]
    [InlineData("", 1)]
    [InlineData(";Max Auto Prepare=0", 0)]
    [InlineData(";MaxAutoPrepare=0", 0)]
    public async Task Statements_used_again_and_again_are_prepared_unless_the_connection_string_turns_it_off(string setting, int prepared)
    {
        await using var database = new PostgresDatabase(_connectionString + setting);
        await using var connection = await database.OpenAsync(CancellationToken.None);
        for (var i = 0; i < 8; i++)
        {
            await using var repeated = new Npgsql.NpgsqlCommand("SELECT COUNT(*) FROM tasks WHERE status = 'pending' /* repeated */", connection);
            await repeated.ExecuteScalarAsync();
        }

        // Prepared statements are the session's own: asked on the connection that ran it.
        await using var count = new Npgsql.NpgsqlCommand(
            "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE '%/* repeated */%' AND statement NOT LIKE '%pg_prepared_statements%'", connection);
        ((long)(await count.ExecuteScalarAsync())!).Should().Be(prepared);
    }

    [Fact]
    public async Task A_database_from_a_newer_release_is_refused()
    {
        await using (var connection = new Npgsql.NpgsqlConnection(_connectionString))
        {
            await connection.OpenAsync();
            await Node.Keys.ListAsync(CancellationToken.None); // migrates
            await using var command = new Npgsql.NpgsqlCommand("INSERT INTO schema_migrations (version) VALUES (999)", connection);
            await command.ExecuteNonQueryAsync();
        }

        await using var newer = new PostgresDatabase(_connectionString);
        var act = () => newer.EnsureSchemaAsync(CancellationToken.None);
        var refused = (await act.Should().ThrowAsync<StoreSchemaTooNewException>()).Which;
        refused.Version.Should().Be(999);
        refused.Message.Should().Contain("newer Kinema");
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
