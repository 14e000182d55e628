using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>
/// A statement prepared once on the writer's connection and run through SQLite's own API. Every create runs two of
/// them (the tenant's account and the insert): through <see cref="SqliteCommand"/> each run also made a data reader,
/// boxed every parameter and looked up its type, which cost about as much as SQLite's own work on the row. Only the
/// writer thread uses it; <see cref="SqliteDatabase"/> finalizes it before it closes the connection.
/// </summary>
internal sealed class WriterStatement : IDisposable
{
    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _statement;

    public WriterStatement(SqliteConnection connection, string sql)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("The writer's connection is not open.");
        var rc = raw.sqlite3_prepare_v2(_database, sql, out _statement);
        SqliteException.ThrowExceptionForRC(rc, _database);
    }

    /// <summary>Binds a text parameter (1-based), or NULL.</summary>
    public void Bind(int index, string? value) =>
        Check(value is null ? raw.sqlite3_bind_null(_statement, index) : raw.sqlite3_bind_text(_statement, index, value));

    /// <summary>Binds an integer parameter (1-based).</summary>
    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    /// <summary>
    /// Runs the statement to its first row: true with a row to read (call <see cref="Reset"/> after reading), false when
    /// it is done (and already reset). A failure resets it too, and throws the <see cref="SqliteException"/> that
    /// Microsoft.Data.Sqlite would have thrown, so the writer's batch handles it the same way.
    /// </summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(_statement);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        try
        {
            // The message is read before the reset, which would replace it.
            SqliteException.ThrowExceptionForRC(rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc, _database);
        }
        finally
        {
            raw.sqlite3_reset(_statement);
        }

        return false;
    }

    /// <summary>Whether column <paramref name="index"/> (0-based) of the current row is NULL.</summary>
    public bool IsNull(int index) => raw.sqlite3_column_type(_statement, index) == raw.SQLITE_NULL;

    /// <summary>Column <paramref name="index"/> (0-based) of the current row as an integer.</summary>
    public long Int64(int index) => raw.sqlite3_column_int64(_statement, index);

    /// <summary>Ends the current run so the statement can run again with new bindings.</summary>
    public void Reset() => raw.sqlite3_reset(_statement);

    public void Dispose() => _statement.Dispose();

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _database);
        }
    }
}
