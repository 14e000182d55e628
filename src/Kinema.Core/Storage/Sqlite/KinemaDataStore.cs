using Kinema.Core.Tasks;
using Kinema.Core.Tenants;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>Opens a data directory's store outside a running server (the <c>keys</c> commands, tests).</summary>
public sealed class KinemaDataStore : IAsyncDisposable
{
    private readonly SqliteDatabase _database;

    private KinemaDataStore(KinemaPaths paths, TimeProvider time)
    {
        _database = new SqliteDatabase(paths.Database, fullSync: true, NullLogger.Instance);
        Tasks = new SqliteTaskStore(_database, time, new TaskStoreOptions());
        Keys = new SqliteApiKeyStore(_database, time);
    }

    /// <summary>The tasks.</summary>
    public ITaskStore Tasks { get; }

    /// <summary>The API keys.</summary>
    public IApiKeyStore Keys { get; }

    /// <summary>Opens (creating if needed) the store of a data directory.</summary>
    public static KinemaDataStore Open(KinemaPaths paths, TimeProvider? time = null) => new(paths, time ?? TimeProvider.System);

    /// <summary>Counts a table's rows matching a SQL condition: for tests and diagnostics.</summary>
    internal long Count(string condition)
    {
        using var connection = _database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM tasks WHERE {condition}";
        return (long)command.ExecuteScalar()!;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _database.DisposeAsync();
}
