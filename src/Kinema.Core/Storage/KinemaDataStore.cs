using Kinema.Core.Storage.Postgres;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Kinema.Core.Tenants;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kinema.Core.Storage;

/// <summary>
/// Opens a node's store outside a running server (the <c>keys</c> commands, tests, benchmarks): the data directory's
/// SQLite file, or the shared PostgreSQL database when the configuration names one, as <c>serve</c> would.
/// </summary>
public sealed class KinemaDataStore : IAsyncDisposable
{
    private readonly IAsyncDisposable _database;
    private readonly IAsyncDisposable? _tasks;

    private KinemaDataStore(IAsyncDisposable database, ITaskStore tasks, IApiKeyStore keys, Billing.IBillingStore billing)
    {
        _database = database;
        _tasks = tasks as IAsyncDisposable;
        Tasks = tasks;
        Keys = keys;
        Billing = billing;
    }

    /// <summary>Tenants' balances and the ledger.</summary>
    public Billing.IBillingStore Billing { get; }

    /// <summary>The tasks.</summary>
    public ITaskStore Tasks { get; }

    /// <summary>The API keys.</summary>
    public IApiKeyStore Keys { get; }

    /// <summary>
    /// One line for an exception that means the store could not be used (PostgreSQL down, a wrong password or database,
    /// a locked or failing SQLite file), or null for any other exception (a bug, to be shown whole): a caller reports the
    /// first to the operator without a stack trace.
    /// </summary>
    public static string? DescribeFailure(Exception exception) =>
        StoreFaults.IsUnusable(exception) ? StoreFaults.Reason(exception) : null;

    /// <summary>The <see cref="StoreSchemaTooNewException"/> in an exception's chain, or null.</summary>
    public static StoreSchemaTooNewException? FindSchemaTooNew(Exception exception) =>
        ExceptionChain.Find<StoreSchemaTooNewException>(exception);

    /// <summary>The provider in use: <c>sqlite</c> or <c>postgres</c>.</summary>
    public string Provider => _database is PostgresDatabase ? StoreProviders.Postgres : StoreProviders.Sqlite;

    /// <summary>
    /// Opens (creating if needed) the store a server on <paramref name="paths"/> would use. Without an explicit
    /// <paramref name="configuration"/>, reads <c>{data}/appsettings.json</c> and the environment, as <c>serve</c> does.
    /// </summary>
    public static KinemaDataStore Open(KinemaPaths paths, IConfiguration? configuration = null, TimeProvider? time = null)
    {
        configuration ??= ConfigurationFor(paths);
        time ??= TimeProvider.System;
        var options = new TaskStoreOptions();
        configuration.GetSection(TaskStoreOptions.Section).Bind(options);
        if (StoreProviders.IsPostgres(configuration))
        {
            var connectionString = StoreProviders.ConnectionString(configuration)
                ?? throw new StoreConfigurationException("Kinema:Store:Provider is 'postgres' but ConnectionStrings:Kinema is not set.");
            var postgres = new PostgresDatabase(connectionString);
            return new KinemaDataStore(postgres, new PostgresTaskStore(postgres, time, options, NullLogger.Instance),
                new PostgresApiKeyStore(postgres, time), new PostgresBillingStore(postgres, time));
        }

        if (ImportedInto(paths) is { } imported)
        {
            // A key made or a credit granted here would never reach the nodes that now serve this directory's clients.
            throw new StoreConfigurationException(
                $"{paths.DataDirectory} was imported into PostgreSQL ({imported}); set Kinema:Store:Provider=postgres "
                + $"and ConnectionStrings:Kinema to work on the shared store, or delete {paths.ImportedMarker} to change the old copy anyway.");
        }

        var sqlite = new SqliteDatabase(paths.Database, fullSync: true, NullLogger.Instance);
        return new KinemaDataStore(sqlite, new SqliteTaskStore(sqlite, time, options), new SqliteApiKeyStore(sqlite, time),
            new SqliteBillingStore(sqlite, time));
    }

    /// <summary>
    /// Where <c>kinema import</c> moved this directory's store ("host:port/database, time"), or null when it was never
    /// imported: SQLite must not take new work in such a directory.
    /// </summary>
    public static string? ImportedInto(KinemaPaths paths) =>
        File.Exists(paths.ImportedMarker) ? File.ReadAllText(paths.ImportedMarker).Trim() : null;

    /// <summary>The settings a command outside the server reads, as <c>serve</c> does: <c>{data}/appsettings.json</c>, then the environment.</summary>
    public static IConfiguration ConfigurationFor(KinemaPaths paths) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(paths.DataDirectory, "appsettings.json"), optional: true, reloadOnChange: false)
        .AddEnvironmentVariables()
        .Build();

    /// <summary>Counts the tasks matching a SQL condition: for tests and diagnostics.</summary>
    internal Task<long> CountAsync(string condition) => ScalarAsync($"SELECT COUNT(*) FROM tasks WHERE {condition}");

    /// <summary>Runs a read-only query that returns one integer (a count, a sum): for tests and diagnostics.</summary>
    internal async Task<long> ScalarAsync(string sql)
    {
        if (_database is PostgresDatabase postgres)
        {
            await using var connection = await postgres.OpenAsync(CancellationToken.None);
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }

        using var read = ((SqliteDatabase)_database).OpenRead();
        using var sqliteCommand = read.CreateCommand();
        sqliteCommand.CommandText = sql;
        return Convert.ToInt64(sqliteCommand.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_tasks is not null)
        {
            await _tasks.DisposeAsync();
        }

        await _database.DisposeAsync();
    }
}

/// <summary>The store's settings cannot work (a provider without its connection string): the operator's to fix.</summary>
public sealed class StoreConfigurationException(string message) : Exception(message);

/// <summary>
/// The database was migrated by a newer Kinema than this one: this build refuses it rather than write rows the newer
/// schema does not expect. The operator's to fix (run the newer build, or restore a backup), not a bug.
/// </summary>
public sealed class StoreSchemaTooNewException(int version, int known)
    : InvalidOperationException($"the database was written by a newer Kinema (schema {version}; this build knows {known})")
{
    /// <summary>The database's schema version.</summary>
    public int Version { get; } = version;

    /// <summary>The newest schema version this build can use.</summary>
    public int Known { get; } = known;
}
