using Kinema.Core.Tenants;
using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>API keys in the same SQLite file as the tasks.</summary>
internal sealed class SqliteApiKeyStore(SqliteDatabase database, TimeProvider time) : IApiKeyStore
{
    public async Task<CreatedApiKey> CreateAsync(NewApiKey newKey, CancellationToken cancellationToken) =>
        (await CreateAsync(newKey, onlyIfNone: false, cancellationToken))!;

    public Task<CreatedApiKey?> CreateFirstAsync(NewApiKey newKey, CancellationToken cancellationToken) =>
        CreateAsync(newKey, onlyIfNone: true, cancellationToken);

    private Task<CreatedApiKey?> CreateAsync(NewApiKey newKey, bool onlyIfNone, CancellationToken cancellationToken)
    {
        var key = ApiKeyFormat.NewKey();
        var now = time.GetUtcNow();
        var record = ApiKeyRows.New(newKey, key, now);
        // The single writer runs one write at a time, so the check and the insert cannot be split by another key.
        return database.WriteAsync(connection =>
        {
            if (onlyIfNone)
            {
                using var exists = connection.CreateCommand();
                exists.CommandText = "SELECT EXISTS (SELECT 1 FROM api_keys)";
                if (Convert.ToInt64(exists.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) != 0)
                {
                    return null;
                }
            }

            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO api_keys (id, tenant_id, name, key_hash, key_prefix, created_at, is_admin, rpm)
                VALUES ($id, $tenant, $name, $hash, $prefix, $now, $admin, $rpm);
                INSERT OR IGNORE INTO tenants (id, balance, created_at) VALUES ($tenant, 0, $now);
                """;
            command.Parameters.AddWithValue("$admin", record.IsAdmin);
            command.Parameters.AddWithValue("$rpm", (object?)record.RequestsPerMinute ?? DBNull.Value);
            command.Parameters.AddWithValue("$id", record.Id);
            command.Parameters.AddWithValue("$tenant", record.TenantId);
            command.Parameters.AddWithValue("$name", record.Name);
            command.Parameters.AddWithValue("$hash", ApiKeyFormat.Hash(key));
            command.Parameters.AddWithValue("$prefix", record.Prefix);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
            return (CreatedApiKey?)new CreatedApiKey(record, key);
        }, cancellationToken);
    }

    public Task<ApiKeyRecord?> FindValidAsync(string presentedKey, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {ApiKeyRows.Columns} FROM api_keys WHERE key_hash = $hash AND revoked_at IS NULL";
        command.Parameters.AddWithValue("$hash", ApiKeyFormat.Hash(presentedKey));
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read() ? ApiKeyRows.Read(reader) : null);
    }

    public Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {ApiKeyRows.Columns} FROM api_keys ORDER BY created_at, id";
        using var reader = command.ExecuteReader();
        var keys = new List<ApiKeyRecord>();
        while (reader.Read())
        {
            keys.Add(ApiKeyRows.Read(reader));
        }

        return Task.FromResult<IReadOnlyList<ApiKeyRecord>>(keys);
    }

    public Task<bool> RevokeAsync(string idOrPrefix, CancellationToken cancellationToken)
    {
        return database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE api_keys SET revoked_at = $now
                WHERE (id = $value OR key_prefix = $value) AND revoked_at IS NULL
                """;
            command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$value", idOrPrefix);
            return command.ExecuteNonQuery() > 0;
        }, cancellationToken);
    }
}
