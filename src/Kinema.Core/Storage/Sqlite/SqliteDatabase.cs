using System.Runtime.InteropServices;
using Kinema.Core.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>
/// One SQLite file in WAL mode. Reads use pooled connections and run in parallel; every write goes through
/// one writer that commits whatever has queued up in a single transaction (group commit), so a burst of
/// submits costs one fsync rather than one per request. Each write runs inside its own savepoint, so one
/// failing write never undoes its neighbours in the batch.
/// </summary>
internal sealed partial class SqliteDatabase : IAsyncDisposable
{
    private const int MaxBatch = 512;

    // The queue the writer drains. A plain monitor rather than a channel: a channel wakes its waiting reader through a
    // thread-pool work item, so every batch's start waited in the pool's queue behind the very requests it serves.
    private readonly object _gate = new();
    private List<IWriteOperation> _queued = new(MaxBatch);
    private bool _writerWaiting;
    private bool _closed;
    private readonly SqliteConnection _writer;
    private readonly TaskCompletionSource _writerStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogger _logger;
    private readonly KinemaMetrics? _metrics;

    public SqliteDatabase(string path, bool fullSync, ILogger logger, KinemaMetrics? metrics = null)
    {
        _logger = logger;
        _metrics = metrics;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        ConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        _writer = new SqliteConnection(ConnectionString);
        _writer.Open();
        Execute(_writer, "PRAGMA journal_mode=WAL;");
        Execute(_writer, fullSync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
        Execute(_writer, "PRAGMA busy_timeout=30000;");
        SqliteSchema.Apply(_writer);
        _savepoint = Prepared("SAVEPOINT op;");
        _release = Prepared("RELEASE op;");
        new Thread(RunWriter) { IsBackground = true, Name = "kinema-sqlite-writer" }.Start();
    }

    public string ConnectionString { get; }

    // Every write runs between these two: prepared once rather than parsed twice per write.
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _release;

    // Statements the writes run through SQLite's own API, prepared on first use. Only the writer thread touches them.
    private readonly Dictionary<string, WriterStatement> _writerStatements = new(StringComparer.Ordinal);

    /// <summary>
    /// The statement for <paramref name="sql"/> on the writer's connection, prepared once. Call it only from inside a
    /// write (<see cref="WriteAsync{T}"/>), which runs on the writer thread.
    /// </summary>
    public WriterStatement WriterStatement(string sql)
    {
        if (!_writerStatements.TryGetValue(sql, out var statement))
        {
            statement = new WriterStatement(_writer, sql);
            _writerStatements.Add(sql, statement);
        }

        return statement;
    }

    private SqliteCommand Prepared(string sql)
    {
        var command = _writer.CreateCommand();
        command.CommandText = sql;
        command.Prepare();
        return command;
    }

    /// <summary>Opens a pooled connection for reading.</summary>
    public SqliteConnection OpenRead()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Queues a write; completes once the batch holding it is committed.</summary>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = new WriteOperation<T>(work);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _queued.Add(operation);
            if (_writerWaiting)
            {
                Monitor.Pulse(_gate);
            }
        }

        // The write is committed whether or not the caller still waits: cancellation only stops the wait.
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The writer runs on a thread of its own, not the thread pool: a commit blocks for its fsync, and a pool thread
    /// blocked that way is one fewer for the requests that feed the batch (on two cores, half of them).
    /// </summary>
    private void RunWriter()
    {
        try
        {
            var batch = new List<IWriteOperation>(MaxBatch);
            while (TakeBatch(ref batch))
            {
                CommitBatch(batch);
            }
        }
        finally
        {
            _writerStopped.TrySetResult();
        }
    }

    /// <summary>
    /// Blocks until writes are queued, then swaps the queue for the (cleared) last batch's list. False once the database
    /// is closed and everything queued has been written.
    /// </summary>
    private bool TakeBatch(ref List<IWriteOperation> batch)
    {
        batch.Clear();
        lock (_gate)
        {
            while (_queued.Count == 0)
            {
                if (_closed)
                {
                    return false;
                }

                // Blocking here is the point: this thread does nothing else, and the wait is one kernel wake-up per batch.
                _writerWaiting = true;
                Monitor.Wait(_gate);
                _writerWaiting = false;
            }

            if (_queued.Count <= MaxBatch)
            {
                (batch, _queued) = (_queued, batch);
            }
            else
            {
                batch.AddRange(CollectionsMarshal.AsSpan(_queued)[..MaxBatch]);
                _queued.RemoveRange(0, MaxBatch);
            }

            return true;
        }
    }

    private void CommitBatch(List<IWriteOperation> batch)
    {
        _metrics?.RecordStoreBatch(batch.Count, "sqlite");
        // Fast path: the whole batch in one transaction, no per-write savepoints. Writes almost never fail; when one
        // does, the batch is rolled back and replayed with a savepoint around each write, so only the culprit fails.
        try
        {
            Execute(_writer, "BEGIN IMMEDIATE;");
            foreach (var operation in batch)
            {
                operation.Run(_writer);
            }

            Execute(_writer, "COMMIT;");
            foreach (var operation in batch)
            {
                operation.Publish();
            }

            return;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Whatever one write threw (a constraint, or a bug in its code), the replay below pins it on that write
            // alone: the writer thread itself must never die, or every later write would wait forever.
            TryRollback();
            foreach (var operation in batch)
            {
                operation.Reset();
            }
        }

        CommitIsolated(batch);
    }

    private void CommitIsolated(List<IWriteOperation> batch)
    {
        try
        {
            Execute(_writer, "BEGIN IMMEDIATE;");
            foreach (var operation in batch)
            {
                _savepoint.ExecuteNonQuery();
                try
                {
                    operation.Run(_writer);
                    _release.ExecuteNonQuery();
                }
                catch (Exception exception) when (exception is not OutOfMemoryException)
                {
                    Execute(_writer, "ROLLBACK TO op; RELEASE op;");
                    operation.Fail(exception);
                }
            }

            Execute(_writer, "COMMIT;");
            foreach (var operation in batch)
            {
                operation.Publish();
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            LogBatchFailed(_logger, batch.Count, exception);
            TryRollback();
            foreach (var operation in batch)
            {
                operation.Fail(exception);
                operation.Publish();
            }
        }
    }

    private void TryRollback()
    {
        try
        {
            Execute(_writer, "ROLLBACK;");
        }
        catch (SqliteException)
        {
            // No transaction was open: nothing to undo.
        }
    }

    internal static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _closed = true;
            Monitor.Pulse(_gate);
        }

        await _writerStopped.Task.ConfigureAwait(false);
        foreach (var statement in _writerStatements.Values)
        {
            statement.Dispose();
        }

        await _writer.DisposeAsync().ConfigureAwait(false);
        SqliteConnection.ClearPool(new SqliteConnection(ConnectionString));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A batch of {Count} SQLite writes failed to commit")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception exception);

    private interface IWriteOperation
    {
        void Run(SqliteConnection connection);
        void Fail(Exception exception);
        void Reset();
        void Publish();
    }

    private sealed class WriteOperation<T>(Func<SqliteConnection, T> work) : IWriteOperation
    {
        private T? _result;
        private Exception? _error;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Run(SqliteConnection connection) => _result = work(connection);

        public void Fail(Exception exception) => _error ??= exception;

        public void Reset()
        {
            _result = default;
            _error = null;
        }

        public void Publish()
        {
            if (_error is not null)
            {
                Completion.TrySetException(_error);
            }
            else
            {
                Completion.TrySetResult(_result!);
            }
        }
    }
}
