using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>What a backup holds: its tasks and API keys, and the size of the file.</summary>
public sealed record SqliteBackupSummary(long Tasks, long ApiKeys, long Bytes);

/// <summary>
/// A consistent copy of a SQLite store while its server keeps writing. Copying <c>kinema.db</c> with <c>cp</c> can tear
/// it, or miss the commits that are still only in its <c>-wal</c> file. <c>VACUUM INTO</c> reads one snapshot (a reader
/// in WAL mode never blocks the writer) and writes it out as one compact file. The copy must pass
/// <c>integrity_check</c> before it replaces an earlier backup, so a failed run never leaves a broken one behind.
/// </summary>
public static class SqliteBackup
{
    /// <summary>Writes the snapshot of <paramref name="database"/> to <paramref name="target"/>, replacing it atomically.</summary>
    /// <exception cref="FileNotFoundException">There is no database at <paramref name="database"/>.</exception>
    /// <exception cref="InvalidDataException">The copy failed its integrity check (the earlier backup is kept).</exception>
    public static async Task<SqliteBackupSummary> WriteAsync(string database, string target, CancellationToken cancellationToken)
    {
        if (!File.Exists(database))
        {
            throw new FileNotFoundException($"there is no Kinema database at {database}", database);
        }

        var partial = target + ".partial";
        File.Delete(partial);
        try
        {
            await using (var source = Open(database, SqliteOpenMode.ReadWrite))
            {
                await source.OpenAsync(cancellationToken);
                await using var vacuum = source.CreateCommand();
                vacuum.CommandText = "VACUUM INTO $target";
                vacuum.Parameters.AddWithValue("$target", partial);
                await vacuum.ExecuteNonQueryAsync(cancellationToken);
            }

            long tasks;
            long keys;
            await using (var copy = Open(partial, SqliteOpenMode.ReadOnly))
            {
                await copy.OpenAsync(cancellationToken);
                var integrity = (string?)await ScalarAsync(copy, "PRAGMA integrity_check", cancellationToken);
                if (integrity != "ok")
                {
                    throw new InvalidDataException($"the copy of {database} failed its integrity check: {integrity}");
                }

                tasks = (long)(await ScalarAsync(copy, "SELECT COUNT(*) FROM tasks", cancellationToken))!;
                keys = (long)(await ScalarAsync(copy, "SELECT COUNT(*) FROM api_keys", cancellationToken))!;
            }

            File.Move(partial, target, overwrite: true);
            return new SqliteBackupSummary(tasks, keys, new FileInfo(target).Length);
        }
        finally
        {
            File.Delete(partial);
        }
    }

    private static SqliteConnection Open(string path, SqliteOpenMode mode) => new(new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = mode,
        // A pooled handle would keep the file open after the backup is done.
        Pooling = false,
        // Seconds to wait when the server holds a lock the snapshot must wait for (rare in WAL mode).
        DefaultTimeout = 30,
    }.ToString());

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
