using System.Data.Common;
using Kinema.Core.Billing;

namespace Kinema.Core.Storage;

/// <summary>Reads accounts, ledger lines and usage totals; both providers keep the same columns with the same meaning.</summary>
internal static class LedgerRows
{
    /// <summary>Totals per tenant from its ledger, beside its balance and the tasks it was charged for.</summary>
    public const string UsageQuery = """
        SELECT t.id, t.balance, t.max_in_flight,
               CAST(COALESCE(SUM(CASE WHEN l.kind IN ('grant', 'debit') THEN l.amount ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN l.kind = 'charge' THEN -l.amount ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN l.kind = 'refund' THEN l.amount ELSE 0 END), 0) AS BIGINT),
               CAST(COUNT(CASE WHEN l.kind = 'charge' THEN 1 END) AS BIGINT)
        FROM tenants t LEFT JOIN ledger l ON l.tenant_id = t.id
        GROUP BY t.id, t.balance, t.max_in_flight
        ORDER BY t.id
        """;

    public static TenantAccount ReadAccount(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetInt64(1),
        reader.IsDBNull(2) ? null : reader.GetInt32(2),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)));

    public static LedgerEntry Read(DbDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetString(2),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetString(4),
        reader.GetInt64(5),
        reader.GetInt64(6),
        reader.IsDBNull(7) ? null : reader.GetString(7),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)));

    public static LedgerPage Page(List<LedgerEntry> entries, int limit)
    {
        var hasMore = entries.Count > limit;
        if (hasMore)
        {
            entries.RemoveAt(entries.Count - 1);
        }

        return new LedgerPage(entries, hasMore, hasMore ? entries[^1].Id : null);
    }

    public static IReadOnlyList<TenantUsage> ReadUsage(DbDataReader reader)
    {
        var usage = new List<TenantUsage>();
        while (reader.Read())
        {
            usage.Add(new TenantUsage(
                reader.GetString(0),
                reader.GetInt64(1),
                reader.IsDBNull(2) ? null : reader.GetInt32(2),
                reader.GetInt64(3),
                reader.GetInt64(4),
                reader.GetInt64(5),
                reader.GetInt64(6)));
        }

        return usage;
    }
}
