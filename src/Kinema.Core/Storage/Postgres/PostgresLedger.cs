namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// The SQL that gives ended tasks their cost back, folded into the very statement that ends them. One statement is one
/// transaction: a task can never be failed (or cancelled) and unrefunded, whatever crashes, and the row lock it takes
/// makes a racing second ending find the task already ended, so it can never be refunded twice.
/// </summary>
internal static class PostgresLedger
{
    /// <summary>
    /// The <c>refunded</c> assignment for an update that fails a task. A task reaches a terminal state once (every
    /// ending is fenced on a non-terminal status), and only such an ending sets the flag, so before it the flag is
    /// always false: the value it gets is whether this statement refunds. ux_ledger_refund backs that up.
    /// </summary>
    public const string RefundOnFailure = "refunded = (cost > 0)";

    /// <summary>For a cancel: refunded unless an upstream accepted the task (that upstream bills it).</summary>
    public const string RefundOnCancel = "refunded = (cost > 0 AND upstream_id IS NULL)";

    /// <summary>What the ending update returns for <see cref="Ctes"/>.</summary>
    public const string Returning = "id, tenant_id, key_id, cost, refunded";

    /// <summary>
    /// CTEs (to follow <c>WITH ended AS (UPDATE … RETURNING <see cref="Returning"/>)</c>) that credit each tenant the
    /// costs of its refunded tasks and write one ledger line per task, each with the balance right after it.
    /// </summary>
    /// <remarks>
    /// The tenants are locked in id order before any is credited, the order a create batch locks them in: a batch that
    /// refunds two tenants and a create (or another batch) touching the same two can then never wait on each other in
    /// a cycle, which PostgreSQL would break by aborting one of them.
    /// </remarks>
    public const string Ctes = """
        refunds AS (SELECT id, tenant_id, key_id, cost FROM ended WHERE refunded),
        totals AS (SELECT tenant_id, SUM(cost) AS total FROM refunds GROUP BY tenant_id),
        locked AS (SELECT t.id FROM tenants t JOIN totals ON totals.tenant_id = t.id ORDER BY t.id FOR UPDATE OF t),
        credited AS (
            UPDATE tenants t SET balance = t.balance + totals.total FROM totals JOIN locked ON locked.id = totals.tenant_id
            WHERE t.id = totals.tenant_id
            RETURNING t.id, t.balance),
        refund_lines AS (
            INSERT INTO ledger (tenant_id, key_id, task_id, kind, amount, balance_after, created_at)
            SELECT r.tenant_id, r.key_id, r.id, 'refund', r.cost,
                   c.balance - COALESCE(SUM(r.cost) OVER (PARTITION BY r.tenant_id ORDER BY r.id
                                                          ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
                   @now
            FROM refunds r JOIN credited c ON c.id = r.tenant_id
            ORDER BY r.tenant_id, r.id
            RETURNING task_id)
        """;
}
