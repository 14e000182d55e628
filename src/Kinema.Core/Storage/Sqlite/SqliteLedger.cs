using Kinema.Core.Billing;
using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>
/// Balance changes and their ledger lines, always on the writer's connection inside the batch's transaction: the
/// caller's task change and its money commit (or vanish) together.
/// </summary>
internal static class SqliteLedger
{
    /// <summary>The condition under which an ended task gets its cost back: nothing was delivered, and no upstream bills it.</summary>
    public const string RefundDue = "cost > 0 AND refunded = 0 AND (status = 'failed' OR (status = 'cancelled' AND upstream_id IS NULL))";

    public static (long Balance, int? MaxInFlight)? ReadAccount(SqliteConnection connection, string tenantId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT balance, max_in_flight FROM tenants WHERE id = $id";
        command.Parameters.AddWithValue("$id", tenantId);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt32(1)) : null;
    }

    public static long CountInFlight(SqliteConnection connection, string tenantId)
    {
        using var command = connection.CreateCommand();
        // Served by the partial index ix_tasks_in_flight: costs the tenant's tasks in flight, which the cap bounds.
        command.CommandText = "SELECT COUNT(*) FROM tasks WHERE tenant_id = $id AND status IN ('pending', 'processing')";
        command.Parameters.AddWithValue("$id", tenantId);
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Moves the balance by <paramref name="delta"/> unless that would take it below zero; the new balance, or null.</summary>
    public static long? Move(SqliteConnection connection, string tenantId, long delta)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE tenants SET balance = balance + $delta WHERE id = $id AND balance + $delta >= 0 RETURNING balance";
        command.Parameters.AddWithValue("$delta", delta);
        command.Parameters.AddWithValue("$id", tenantId);
        return command.ExecuteScalar() is long balance ? balance : null;
    }

    public static void Append(
        SqliteConnection connection, string tenantId, string? keyId, string? taskId, string kind, long amount, long balanceAfter,
        string? note, long now)
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO ledger (tenant_id, key_id, task_id, kind, amount, balance_after, note, created_at)
            VALUES ($tenant, $key, $task, $kind, $amount, $after, $note, $now)
            """;
        command.Parameters.AddWithValue("$tenant", tenantId);
        command.Parameters.AddWithValue("$key", (object?)keyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$task", (object?)taskId ?? DBNull.Value);
        command.Parameters.AddWithValue("$kind", kind);
        command.Parameters.AddWithValue("$amount", amount);
        command.Parameters.AddWithValue("$after", balanceAfter);
        command.Parameters.AddWithValue("$note", (object?)note ?? DBNull.Value);
        command.Parameters.AddWithValue("$now", now);
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Gives an ended task its cost back when <see cref="RefundDue"/> holds, marking it refunded so no later change can
    /// refund it again. Called in the transaction that ended it; true when it refunded.
    /// </summary>
    public static bool RefundIfDue(SqliteConnection connection, string taskId, long now)
    {
        string tenantId;
        string? keyId;
        long cost;
        using (var mark = connection.CreateCommand())
        {
            mark.CommandText = $"UPDATE tasks SET refunded = 1 WHERE id = $id AND {RefundDue} RETURNING tenant_id, key_id, cost";
            mark.Parameters.AddWithValue("$id", taskId);
            using var reader = mark.ExecuteReader();
            if (!reader.Read())
            {
                return false;
            }

            tenantId = reader.GetString(0);
            keyId = reader.IsDBNull(1) ? null : reader.GetString(1);
            cost = reader.GetInt64(2);
        }

        var balance = Move(connection, tenantId, cost)
            ?? throw new InvalidOperationException($"Task {taskId} was charged to tenant '{tenantId}', which has no account.");
        Append(connection, tenantId, keyId, taskId, LedgerKinds.Refund, cost, balance, null, now);
        return true;
    }
}
