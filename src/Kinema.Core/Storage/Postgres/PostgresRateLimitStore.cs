using Kinema.Core.RateLimits;
using Npgsql;
using NpgsqlTypes;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// Every key's window as one row that each node locks while it takes permits, so the nodes behind a load balancer share
/// one limit a key rather than each granting it in full.
/// </summary>
internal sealed class PostgresRateLimitStore(PostgresDatabase database, TimeProvider time) : IRateLimitStore
{
    public async Task<RateGrant> TakeAsync(string keyId, int limit, int want, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The upsert makes the row if this is the key's first request, and either way holds its lock to the commit.
        await using var read = new NpgsqlCommand("""
            INSERT INTO rate_windows (key_id, segment, counts) VALUES (@key, 0, @empty)
            ON CONFLICT (key_id) DO UPDATE SET key_id = excluded.key_id
            RETURNING segment, counts
            """, connection, transaction);
        read.Parameters.AddWithValue("key", keyId);
        read.Parameters.Add(new NpgsqlParameter("empty", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = RateWindow.Empty() });
        long segment;
        int[] counts;
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            segment = reader.GetInt64(0);
            counts = reader.GetFieldValue<int[]>(1);
        }

        var (now, window, grant) = RateWindow.Take(segment, counts, time.GetUtcNow(), limit, want);
        if (grant.Granted > 0)
        {
            await using var write = new NpgsqlCommand("UPDATE rate_windows SET segment = @segment, counts = @counts WHERE key_id = @key",
                connection, transaction);
            write.Parameters.AddWithValue("segment", now);
            write.Parameters.Add(new NpgsqlParameter("counts", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = window });
            write.Parameters.AddWithValue("key", keyId);
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return grant;
    }
}
