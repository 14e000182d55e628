namespace Kinema.Core.Billing;

/// <summary>
/// Tenants' balances and the append-only ledger behind them. A balance is always the sum of its tenant's ledger and
/// never negative. Charges and refunds are not made here: the task store makes them in the very transaction that
/// creates a task or ends it, so a task and its money can never disagree, even across a crash.
/// </summary>
public interface IBillingStore
{
    /// <summary>Makes a tenant, or changes its cap on tasks in flight when it exists (null: no cap).</summary>
    Task<TenantAccount> UpsertTenantAsync(string tenantId, int? maxInFlight, CancellationToken cancellationToken);

    /// <summary>A tenant, or null.</summary>
    Task<TenantAccount?> GetTenantAsync(string tenantId, CancellationToken cancellationToken);

    /// <summary>Every tenant, by id.</summary>
    Task<IReadOnlyList<TenantAccount>> ListTenantsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Adds (or, with a negative amount, takes away) credits, recording a ledger entry in the same transaction. A debit
    /// that would take the balance below zero changes nothing.
    /// </summary>
    Task<CreditOutcome> AddCreditsAsync(string tenantId, long amount, string? keyId, string? note, CancellationToken cancellationToken);

    /// <summary>A page of a tenant's ledger, newest first, after an optional entry id.</summary>
    Task<LedgerPage> ListLedgerAsync(string tenantId, int limit, long? after, CancellationToken cancellationToken);

    /// <summary>Totals per tenant: balance, granted, charged, refunded.</summary>
    Task<IReadOnlyList<TenantUsage>> UsageAsync(CancellationToken cancellationToken);
}

/// <summary>A tenant's account.</summary>
/// <param name="Id">The tenant id (what API keys name).</param>
/// <param name="Balance">Credits left, never negative.</param>
/// <param name="MaxInFlight">At most this many pending and processing tasks at once, or null for no cap.</param>
/// <param name="CreatedAt">When it was made.</param>
public sealed record TenantAccount(string Id, long Balance, int? MaxInFlight, DateTimeOffset CreatedAt);

/// <summary>What a credit change did.</summary>
/// <param name="Tenant">The account after the change (or as it stands, when refused); null when unknown.</param>
/// <param name="Kind">What happened.</param>
public sealed record CreditOutcome(TenantAccount? Tenant, CreditOutcomeKind Kind);

/// <summary>What a credit change did.</summary>
public enum CreditOutcomeKind
{
    /// <summary>The balance changed and the ledger says so.</summary>
    Applied,
    /// <summary>No such tenant.</summary>
    UnknownTenant,
    /// <summary>The debit is larger than the balance: nothing changed.</summary>
    WouldGoNegative,
}

/// <summary>One line of the ledger.</summary>
/// <param name="Id">Increasing with time within a tenant.</param>
/// <param name="TenantId">Whose balance it moved.</param>
/// <param name="KeyId">The key that caused it (the creating key, or the admin key that granted), when known.</param>
/// <param name="TaskId">The task charged or refunded.</param>
/// <param name="Kind">See <see cref="LedgerKinds"/>.</param>
/// <param name="Amount">Signed: positive adds credits, negative takes them.</param>
/// <param name="BalanceAfter">The balance right after this entry.</param>
/// <param name="Note">An admin's note on a grant.</param>
/// <param name="CreatedAt">When.</param>
public sealed record LedgerEntry(
    long Id, string TenantId, string? KeyId, string? TaskId, string Kind, long Amount, long BalanceAfter, string? Note, DateTimeOffset CreatedAt);

/// <summary>A page of ledger entries, newest first.</summary>
public sealed record LedgerPage(IReadOnlyList<LedgerEntry> Entries, bool HasMore, long? NextCursor);

/// <summary>A tenant's totals.</summary>
public sealed record TenantUsage(string TenantId, long Balance, int? MaxInFlight, long Granted, long Charged, long Refunded, long Tasks);

/// <summary>The kinds of ledger entry.</summary>
public static class LedgerKinds
{
    /// <summary>An admin added credits.</summary>
    public const string Grant = "grant";
    /// <summary>An admin took credits away.</summary>
    public const string Debit = "debit";
    /// <summary>A task's cost, taken when it was created.</summary>
    public const string Charge = "charge";
    /// <summary>A task's cost given back because nothing was delivered.</summary>
    public const string Refund = "refund";
}
