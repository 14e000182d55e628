using System.Globalization;
using Kinema.Core.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Kinema.Core.Storage.Postgres;

/// <summary>The destination already holds data of its own: an import never merges two stores.</summary>
internal sealed class ImportTargetNotEmptyException(IReadOnlyList<(string Table, long Rows)> found)
    : InvalidOperationException("the PostgreSQL database already holds " + SingleNodeImport.Describe(found));

/// <summary>
/// Moves a single node's data directory (its SQLite store, the key that signs its links, its result files) into the
/// shared PostgreSQL database and storage that several nodes use, so that a deployment outgrowing one node keeps its
/// tasks, its clients' API keys, balances and ledger, webhook endpoints and their pending deliveries, and every link it
/// has handed out. The files go first and may be copied again; the rows go in one transaction, so an import that fails
/// part-way leaves the database as empty as it found it and can simply be run again.
/// </summary>
internal static class SingleNodeImport
{
    /// <summary>The tables both providers share, parents before the rows that name them.</summary>
    public static readonly string[] Tables =
        ["tenants", "api_keys", "tasks", "webhook_secrets", "webhook_endpoints", "webhook_deliveries", "ledger"];

    /// <summary>The shared tables that already hold rows in the destination (an import needs them all empty).</summary>
    public static async Task<IReadOnlyList<(string Table, long Rows)>> FindExistingRowsAsync(
        PostgresDatabase target, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken);
        return await CountAsync(connection, null, cancellationToken);
    }

    /// <summary>The rows an import of <paramref name="sqliteFile"/> would copy, read without writing to the file.</summary>
    public static async Task<IReadOnlyList<(string Table, long Rows)>> CountSourceAsync(string sqliteFile, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = sqliteFile,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        await connection.OpenAsync(cancellationToken);
        var counts = new List<(string, long)>();
        foreach (var table in Tables)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT COUNT(*) FROM {table}";
            long rows;
            try
            {
                rows = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
            }
            catch (SqliteException missing) when (missing.SqliteErrorCode == 1)
            {
                // A store from before the table existed (the import migrates it first): nothing of it to copy.
                rows = 0;
            }

            counts.Add((table, rows));
        }

        return counts;
    }

    /// <summary>The files <see cref="CopyFilesAsync"/> would copy from <paramref name="resultsRoot"/>, and their bytes.</summary>
    public static (int Files, long Bytes) CountFiles(string resultsRoot)
    {
        var files = ResultFiles(resultsRoot).ToList();
        return (files.Count, files.Sum(entry => entry.File.Length));
    }

    private static IEnumerable<(string Id, FileInfo File)> ResultFiles(string resultsRoot) => !Directory.Exists(resultsRoot)
        ? []
        : new DirectoryInfo(resultsRoot).EnumerateDirectories()
            .SelectMany(directory => directory.EnumerateFiles().Select(file => (Id: directory.Name, File: file)))
            .Where(entry => !entry.File.Name.EndsWith(".partial", StringComparison.Ordinal));

    /// <summary>
    /// Copies every file under <paramref name="resultsRoot"/> (<c>{id}/{name}</c>, as the disk storage lays them out) to
    /// <paramref name="destination"/>, skipping saves still under way (<c>.partial</c>) and files already there with the
    /// same length. Results never change once written, so a file of the same length is the same file.
    /// </summary>
    public static async Task<(int Copied, long Bytes, int Present)> CopyFilesAsync(
        string resultsRoot, IResultStorage destination, Action<int>? progress, CancellationToken cancellationToken)
    {
        var files = ResultFiles(resultsRoot);
        var copied = 0;
        var present = 0;
        long bytes = 0;
        // An object store answers each put in a round trip: a few at once keep it busy without flooding it.
        await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (entry, ct) =>
            {
                var existing = await destination.FindAsync(entry.Id, entry.File.Name, ct);
                if (existing is not null && existing.Length == entry.File.Length)
                {
                    Interlocked.Increment(ref present);
                }
                else
                {
                    await destination.SaveAsync(entry.Id, entry.File.Name, entry.File.FullName, ct);
                    Interlocked.Add(ref bytes, entry.File.Length);
                    Interlocked.Increment(ref copied);
                }

                progress?.Invoke(Volatile.Read(ref copied) + Volatile.Read(ref present));
            });
        return (copied, bytes, present);
    }

    /// <summary>
    /// Copies every row of <paramref name="sqliteFile"/> into <paramref name="target"/>, with the signing key, in one
    /// transaction that first locks the shared tables against writers and checks that they are empty.
    /// </summary>
    public static async Task<IReadOnlyList<(string Table, long Rows)>> CopyRowsAsync(
        string sqliteFile, byte[] signingKey, PostgresDatabase target, CancellationToken cancellationToken)
    {
        // Opened as serve opens it, so an older file is migrated to the schema this build writes before it is read.
        await using var source = new SqliteDatabase(sqliteFile, fullSync: true, NullLogger.Instance);
        using var read = source.OpenRead();
        await using var connection = await target.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await PostgresSchema.ExecuteAsync(connection, $"LOCK TABLE {string.Join(", ", Tables)} IN SHARE ROW EXCLUSIVE MODE", cancellationToken);
        if (await CountAsync(connection, transaction, cancellationToken) is { Count: > 0 } found)
        {
            throw new ImportTargetNotEmptyException(found);
        }

        var copied = new List<(string, long)>();
        foreach (var table in Tables)
        {
            copied.Add((table, await CopyTableAsync(read, connection, table, cancellationToken)));
        }

        // The ledger's ids are kept (clients page by them), so its identity continues after the highest one.
        await PostgresSchema.ExecuteAsync(connection,
            "SELECT setval(pg_get_serial_sequence('ledger', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM ledger", cancellationToken);
        await using (var key = new NpgsqlCommand("""
            INSERT INTO node_secrets (name, value) VALUES ('signing', @value)
            ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
            """, connection))
        {
            key.Parameters.AddWithValue("value", signingKey);
            await key.ExecuteNonQueryAsync(cancellationToken);
        }

        // Counted again inside the transaction: what commits is exactly what the file held.
        var written = await CountAsync(connection, transaction, cancellationToken, includeEmpty: true);
        foreach (var (table, rows) in copied)
        {
            var landed = written.Single(w => w.Table == table).Rows;
            if (landed != rows)
            {
                throw new InvalidOperationException($"the import read {rows} {table} rows but {landed} landed; nothing was committed");
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return copied;
    }

    private static async Task<long> CopyTableAsync(SqliteConnection source, NpgsqlConnection target, string table, CancellationToken cancellationToken)
    {
        var columns = new List<(string Name, string Type)>();
        await using (var describe = new NpgsqlCommand("""
            SELECT column_name, data_type FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = @table ORDER BY ordinal_position
            """, target))
        {
            describe.Parameters.AddWithValue("table", table);
            await using var reader = await describe.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                columns.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        using var select = source.CreateCommand();
        select.CommandText = $"SELECT {string.Join(", ", columns.Select(c => c.Name))} FROM {table}";
        using var rows = select.ExecuteReader();
        await using var writer = await target.BeginBinaryImportAsync(
            $"COPY {table} ({string.Join(", ", columns.Select(c => c.Name))}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        long count = 0;
        while (rows.Read())
        {
            await writer.StartRowAsync(cancellationToken);
            for (var i = 0; i < columns.Count; i++)
            {
                if (rows.IsDBNull(i))
                {
                    await writer.WriteNullAsync(cancellationToken);
                    continue;
                }

                // SQLite keeps integers, text and 0/1 flags; PostgreSQL's own types are the shape each value is written in.
                switch (columns[i].Type)
                {
                    case "text":
                        await writer.WriteAsync(rows.GetString(i), NpgsqlDbType.Text, cancellationToken);
                        break;
                    case "bigint":
                        await writer.WriteAsync(rows.GetInt64(i), NpgsqlDbType.Bigint, cancellationToken);
                        break;
                    case "integer":
                        await writer.WriteAsync(checked((int)rows.GetInt64(i)), NpgsqlDbType.Integer, cancellationToken);
                        break;
                    case "boolean":
                        await writer.WriteAsync(rows.GetInt64(i) != 0, NpgsqlDbType.Boolean, cancellationToken);
                        break;
                    default:
                        throw new InvalidOperationException($"{table}.{columns[i].Name} has type {columns[i].Type}, which the import does not copy");
                }
            }

            count++;
        }

        await writer.CompleteAsync(cancellationToken);
        return count;
    }

    private static async Task<IReadOnlyList<(string Table, long Rows)>> CountAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken, bool includeEmpty = false)
    {
        await using var command = new NpgsqlCommand(
            string.Join(" UNION ALL ", Tables.Select((t, i) => $"SELECT {i}, COUNT(*) FROM {t}")), connection, transaction);
        var counts = new List<(string, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var rows = reader.GetInt64(1);
            if (rows > 0 || includeEmpty)
            {
                counts.Add((Tables[reader.GetInt32(0)], rows));
            }
        }

        return counts;
    }

    /// <summary>"1,204 tasks"-style counts for the operator.</summary>
    public static string Describe(IReadOnlyList<(string Table, long Rows)> rows) => string.Join(", ", rows.Where(r => r.Rows > 0 || r.Table == "tasks").Select(r =>
        string.Create(CultureInfo.InvariantCulture, $"{r.Rows} {Label(r.Table, r.Rows)}")));

    private static string Label(string table, long rows) => (table, rows == 1) switch
    {
        ("tenants", true) => "tenant",
        ("api_keys", var one) => one ? "API key" : "API keys",
        ("tasks", true) => "task",
        ("webhook_secrets", var one) => one ? "webhook signing secret" : "webhook signing secrets",
        ("webhook_endpoints", var one) => one ? "webhook endpoint" : "webhook endpoints",
        ("webhook_deliveries", var one) => one ? "webhook delivery" : "webhook deliveries",
        ("ledger", var one) => one ? "ledger entry" : "ledger entries",
        _ => table,
    };
}
