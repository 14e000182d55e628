using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// One PostgreSQL database shared by every node. Unlike SQLite there is no single writer: each operation runs on a
/// pooled connection in its own transaction, and nodes coordinate through row locks (<c>FOR UPDATE SKIP LOCKED</c>),
/// fenced updates and <c>NOTIFY</c>. The schema is migrated once, before the first operation.
/// </summary>
internal sealed class PostgresDatabase : IAsyncDisposable
{
    /// <summary>The channel on which every node announces task changes to the others.</summary>
    public const string Channel = "kinema_tasks";

    private readonly Lazy<Task> _schema;

    public PostgresDatabase(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // Several nodes share one server: keep each node's pool modest unless the operator said otherwise.
        if (!Sets(connectionString, "MaximumPoolSize", "MaxPoolSize"))
        {
            builder.MaxPoolSize = 50;
        }

        // Statements used again and again (the batch insert, claims, polls) are prepared on each pooled connection, so
        // PostgreSQL plans them once rather than per call: 1.2-1.4x the creates a second through the store alone
        // (BENCHMARKS.md). "Max Auto Prepare=0" turns it off, e.g. behind a pooler that cannot hold prepared statements.
        if (!Sets(connectionString, "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        ConnectionString = builder.ConnectionString;
        DataSource = NpgsqlDataSource.Create(builder);
        _schema = new Lazy<Task>(() => PostgresSchema.ApplyAsync(DataSource, CancellationToken.None));
    }

    public string ConnectionString { get; }

    /// <summary>Whether the operator's connection string sets one of these keys, spelt with or without spaces.</summary>
    private static bool Sets(string connectionString, params string[] keys) =>
        connectionString.Split(';').Select(part => part.Split('=')[0].Replace(" ", "", StringComparison.Ordinal).Trim())
            .Any(key => keys.Contains(key, StringComparer.OrdinalIgnoreCase));

    public NpgsqlDataSource DataSource { get; }

    /// <summary>Names this process in its notifications, so it can ignore its own echoes.</summary>
    public string NodeId { get; } = Guid.NewGuid().ToString("N")[..12];

    /// <summary>Opens a pooled connection once the schema is in place.</summary>
    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await _schema.Value.WaitAsync(cancellationToken);
        return await DataSource.OpenConnectionAsync(cancellationToken);
    }

    /// <summary>Applies pending migrations now (start-up), rather than on the first operation.</summary>
    public Task EnsureSchemaAsync(CancellationToken cancellationToken) => _schema.Value.WaitAsync(cancellationToken);

    /// <summary>The notice of a task that is claimable again (released at a node's stop, or requeued): wakes every node's workers.</summary>
    public const char Runnable = 'r';

    /// <summary>
    /// A notification payload: kind (<c>n</c>ew, <c>c</c>hanged, <c>f</c>inished, <c>r</c>unnable again), this node, the task.
    /// </summary>
    public string Payload(char kind, string taskId) => $"{kind}|{NodeId}|{taskId}";

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
