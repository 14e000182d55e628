using Kinema.Core.Billing;
using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>Tenants and the ledger in PostgreSQL, shared by every node.</summary>
internal sealed class PostgresBillingStore(PostgresDatabase database, TimeProvider time) : IBillingStore
{
    private const string AccountColumns = "id, balance, max_in_flight, created_at";

    public async Task<TenantAccount> UpsertTenantAsync(string tenantId, int? maxInFlight, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"""
            INSERT INTO tenants (id, balance, max_in_flight, created_at) VALUES (@id, 0, @cap, @now)
            ON CONFLICT (id) DO UPDATE SET max_in_flight = excluded.max_in_flight
            RETURNING {AccountColumns}
            """, connection);
        command.Parameters.AddWithValue("id", tenantId);
        command.Parameters.Add(new NpgsqlParameter("cap", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)maxInFlight ?? DBNull.Value });
        command.Parameters.AddWithValue("now", time.GetUtcNow().ToUnixTimeMilliseconds());
        return (await ReadAccountsAsync(command, cancellationToken))[0];
    }

    public async Task<TenantAccount?> GetTenantAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {AccountColumns} FROM tenants WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", tenantId);
        return (await ReadAccountsAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<TenantAccount>> ListTenantsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {AccountColumns} FROM tenants ORDER BY id", connection);
        return await ReadAccountsAsync(command, cancellationToken);
    }

    public async Task<CreditOutcome> AddCreditsAsync(string tenantId, long amount, string? keyId, string? note, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        // One statement: the balance moves (under its row lock, never below zero) and the ledger line is written, or neither.
        await using var command = new NpgsqlCommand($"""
            WITH moved AS (
                UPDATE tenants SET balance = balance + @amount WHERE id = @id AND balance + @amount >= 0
                RETURNING {AccountColumns}),
            line AS (
                INSERT INTO ledger (tenant_id, key_id, task_id, kind, amount, balance_after, note, created_at)
                SELECT id, @key, NULL, @kind, @amount, balance, @note, @now FROM moved)
            SELECT {AccountColumns} FROM moved
            """, connection);
        command.Parameters.AddWithValue("amount", amount);
        command.Parameters.AddWithValue("id", tenantId);
        command.Parameters.Add(new NpgsqlParameter("key", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)keyId ?? DBNull.Value });
        command.Parameters.AddWithValue("kind", amount >= 0 ? LedgerKinds.Grant : LedgerKinds.Debit);
        command.Parameters.Add(new NpgsqlParameter("note", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)note ?? DBNull.Value });
        command.Parameters.AddWithValue("now", time.GetUtcNow().ToUnixTimeMilliseconds());
        if ((await ReadAccountsAsync(command, cancellationToken)).FirstOrDefault() is { } moved)
        {
            return new CreditOutcome(moved, CreditOutcomeKind.Applied);
        }

        return await GetTenantAsync(tenantId, cancellationToken) is { } account
            ? new CreditOutcome(account, CreditOutcomeKind.WouldGoNegative)
            : new CreditOutcome(null, CreditOutcomeKind.UnknownTenant);
    }

    public async Task<LedgerPage> ListLedgerAsync(string tenantId, int limit, long? after, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT id, tenant_id, key_id, task_id, kind, amount, balance_after, note, created_at FROM ledger
            WHERE tenant_id = @tenant AND (@after::bigint IS NULL OR id < @after::bigint) ORDER BY id DESC LIMIT @limit
            """, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        command.Parameters.AddWithValue("limit", limit + 1);
        var entries = new List<LedgerEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(LedgerRows.Read(reader));
        }

        return LedgerRows.Page(entries, limit);
    }

    public async Task<IReadOnlyList<TenantUsage>> UsageAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(LedgerRows.UsageQuery, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return LedgerRows.ReadUsage(reader);
    }

    private static async Task<List<TenantAccount>> ReadAccountsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var accounts = new List<TenantAccount>();
        while (await reader.ReadAsync(cancellationToken))
        {
            accounts.Add(LedgerRows.ReadAccount(reader));
        }

        return accounts;
    }
}
