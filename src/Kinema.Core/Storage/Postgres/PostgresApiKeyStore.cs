using Kinema.Core.Tenants;
using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>API keys in PostgreSQL: a key made or revoked through one node holds on every node.</summary>
internal sealed class PostgresApiKeyStore(PostgresDatabase database, TimeProvider time) : IApiKeyStore
{
    /// <summary>The advisory lock that makes "create the first key" one decision across nodes.</summary>
    private const long FirstKeyLock = 0x4b_69_6e_65_6d_61_4b_31; // "KinemaK1"

    public async Task<CreatedApiKey> CreateAsync(NewApiKey newKey, CancellationToken cancellationToken) =>
        (await CreateAsync(newKey, onlyIfNone: false, cancellationToken))!;

    public Task<CreatedApiKey?> CreateFirstAsync(NewApiKey newKey, CancellationToken cancellationToken) =>
        CreateAsync(newKey, onlyIfNone: true, cancellationToken);

    private async Task<CreatedApiKey?> CreateAsync(NewApiKey newKey, bool onlyIfNone, CancellationToken cancellationToken)
    {
        var key = ApiKeyFormat.NewKey();
        var now = time.GetUtcNow();
        var record = ApiKeyRows.New(newKey, key, now);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (onlyIfNone)
        {
            // Nodes starting together queue on the lock; each then sees whether an earlier one already made the key. The
            // check is a statement of its own: READ COMMITTED takes a statement's snapshot when it starts, so a check in
            // the locking statement would not see a key committed while it waited.
            await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@lock)", connection, transaction))
            {
                take.Parameters.AddWithValue("lock", FirstKeyLock);
                await take.ExecuteNonQueryAsync(cancellationToken);
            }

            await using var check = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM api_keys)", connection, transaction);
            if ((bool)(await check.ExecuteScalarAsync(cancellationToken))!)
            {
                return null;
            }
        }

        // One statement, so the key and its tenant's account appear together.
        await using var command = new NpgsqlCommand("""
            WITH key AS (
                INSERT INTO api_keys (id, tenant_id, name, key_hash, key_prefix, created_at, is_admin, rpm)
                VALUES (@id, @tenant, @name, @hash, @prefix, @now, @admin, @rpm))
            INSERT INTO tenants (id, balance, created_at) VALUES (@tenant, 0, @now) ON CONFLICT (id) DO NOTHING
            """, connection, transaction);
        command.Parameters.AddWithValue("admin", record.IsAdmin);
        command.Parameters.Add(new NpgsqlParameter("rpm", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)record.RequestsPerMinute ?? DBNull.Value });
        command.Parameters.AddWithValue("id", record.Id);
        command.Parameters.AddWithValue("tenant", record.TenantId);
        command.Parameters.AddWithValue("name", record.Name);
        command.Parameters.AddWithValue("hash", ApiKeyFormat.Hash(key));
        command.Parameters.AddWithValue("prefix", record.Prefix);
        command.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new CreatedApiKey(record, key);
    }

    public async Task<ApiKeyRecord?> FindValidAsync(string presentedKey, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {ApiKeyRows.Columns} FROM api_keys WHERE key_hash = @hash AND revoked_at IS NULL", connection);
        command.Parameters.AddWithValue("hash", ApiKeyFormat.Hash(presentedKey));
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {ApiKeyRows.Columns} FROM api_keys ORDER BY created_at, id", connection);
        return await ReadAsync(command, cancellationToken);
    }

    public async Task<bool> RevokeAsync(string idOrPrefix, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            UPDATE api_keys SET revoked_at = @now WHERE (id = @value OR key_prefix = @value) AND revoked_at IS NULL
            """, connection);
        command.Parameters.AddWithValue("now", time.GetUtcNow().ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("value", idOrPrefix);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    private static async Task<List<ApiKeyRecord>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(ApiKeyRows.Read(reader));
        }

        return keys;
    }
}
