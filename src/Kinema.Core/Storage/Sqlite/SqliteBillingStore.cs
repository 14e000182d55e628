using Kinema.Core.Billing;
using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>Tenants and the ledger in the same SQLite file as the tasks, written through the same single writer.</summary>
internal sealed class SqliteBillingStore(SqliteDatabase database, TimeProvider time) : IBillingStore
{
    private const string AccountColumns = "id, balance, max_in_flight, created_at";

    public Task<TenantAccount> UpsertTenantAsync(string tenantId, int? maxInFlight, CancellationToken cancellationToken) =>
        database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                INSERT INTO tenants (id, balance, max_in_flight, created_at) VALUES ($id, 0, $cap, $now)
                ON CONFLICT (id) DO UPDATE SET max_in_flight = excluded.max_in_flight
                RETURNING {AccountColumns}
                """;
            command.Parameters.AddWithValue("$id", tenantId);
            command.Parameters.AddWithValue("$cap", (object?)maxInFlight ?? DBNull.Value);
            command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
            using var reader = command.ExecuteReader();
            reader.Read();
            return ReadAccount(reader);
        }, cancellationToken);

    public Task<TenantAccount?> GetTenantAsync(string tenantId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        return Task.FromResult(Find(connection, tenantId));
    }

    public Task<IReadOnlyList<TenantAccount>> ListTenantsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {AccountColumns} FROM tenants ORDER BY id";
        using var reader = command.ExecuteReader();
        var accounts = new List<TenantAccount>();
        while (reader.Read())
        {
            accounts.Add(ReadAccount(reader));
        }

        return Task.FromResult<IReadOnlyList<TenantAccount>>(accounts);
    }

    public Task<CreditOutcome> AddCreditsAsync(string tenantId, long amount, string? keyId, string? note, CancellationToken cancellationToken) =>
        database.WriteAsync(connection =>
        {
            if (Find(connection, tenantId) is not { } account)
            {
                return new CreditOutcome(null, CreditOutcomeKind.UnknownTenant);
            }

            if (SqliteLedger.Move(connection, tenantId, amount) is not { } balance)
            {
                return new CreditOutcome(account, CreditOutcomeKind.WouldGoNegative);
            }

            SqliteLedger.Append(connection, tenantId, keyId, null, amount >= 0 ? LedgerKinds.Grant : LedgerKinds.Debit, amount, balance,
                note, time.GetUtcNow().ToUnixTimeMilliseconds());
            return new CreditOutcome(account with { Balance = balance }, CreditOutcomeKind.Applied);
        }, cancellationToken);

    public Task<LedgerPage> ListLedgerAsync(string tenantId, int limit, long? after, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT id, tenant_id, key_id, task_id, kind, amount, balance_after, note, created_at FROM ledger
            WHERE tenant_id = $tenant AND ($after IS NULL OR id < $after) ORDER BY id DESC LIMIT $limit
            """;
        command.Parameters.AddWithValue("$tenant", tenantId);
        command.Parameters.AddWithValue("$after", (object?)after ?? DBNull.Value);
        command.Parameters.AddWithValue("$limit", limit + 1);
        using var reader = command.ExecuteReader();
        var entries = new List<LedgerEntry>();
        while (reader.Read())
        {
            entries.Add(LedgerRows.Read(reader));
        }

        return Task.FromResult(LedgerRows.Page(entries, limit));
    }

    public Task<IReadOnlyList<TenantUsage>> UsageAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = LedgerRows.UsageQuery;
        using var reader = command.ExecuteReader();
        return Task.FromResult(LedgerRows.ReadUsage(reader));
    }

    private static TenantAccount? Find(SqliteConnection connection, string tenantId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {AccountColumns} FROM tenants WHERE id = $id";
        command.Parameters.AddWithValue("$id", tenantId);
        using var reader = command.ExecuteReader();
        return reader.Read() ? ReadAccount(reader) : null;
    }

    private static TenantAccount ReadAccount(SqliteDataReader reader) => LedgerRows.ReadAccount(reader);
}
