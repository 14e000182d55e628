using System.Text.Json;
using Kinema.Core.Tasks;
using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>Tasks in SQLite. Every state change after the claim is fenced by <c>lease_owner</c>.</summary>
internal sealed class SqliteTaskStore(SqliteDatabase database, TimeProvider time, TaskStoreOptions options) : ITaskStore
{
    internal const string Columns = TaskRows.Columns;

    private static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);

    public Task<CreateOutcome> CreateAsync(NewTask task, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var id = TaskIds.New(now);
        var requestJson = task.RequestJson ?? SerializeRequest(task.Request);
        return database.WriteAsync(connection =>
        {
            if (task.IdempotencyKey is not null)
            {
                var earlier = FindByIdempotencyKey(connection, task.TenantId, task.IdempotencyKey);
                if (earlier is { } found)
                {
                    if (now - found.Record.CreatedAt < IdempotencyWindow)
                    {
                        return found.RequestHash == task.RequestHash
                            ? new CreateOutcome(found.Record, CreateOutcomeKind.Replayed)
                            : new CreateOutcome(found.Record, CreateOutcomeKind.KeyConflict);
                    }

                    // The key's 24 h are over: it may name a new task.
                    using var release = connection.CreateCommand();
                    release.CommandText = "UPDATE tasks SET idempotency_key = NULL WHERE id = $id";
                    release.Parameters.AddWithValue("$id", found.Record.Id);
                    release.ExecuteNonQuery();
                }
            }

            // Limits and money are decided here, inside the writer's batch: no other write runs between the check and
            // the debit, so racing creates can neither overdraw the balance nor exceed the cap.
            var account = ReadAccount(task.TenantId);
            if (account?.MaxInFlight is { } cap && SqliteLedger.CountInFlight(connection, task.TenantId) >= cap)
            {
                return new CreateOutcome(null, CreateOutcomeKind.TooManyInFlight, MaxInFlight: cap);
            }

            long? balanceAfter = null;
            if (task.Cost > 0)
            {
                balanceAfter = account is { } found && found.Balance >= task.Cost
                    ? SqliteLedger.Move(connection, task.TenantId, -task.Cost)
                    : null;
                if (balanceAfter is null)
                {
                    return new CreateOutcome(null, CreateOutcomeKind.InsufficientCredits, Balance: account?.Balance ?? 0);
                }
            }

            var insert = database.WriterStatement(InsertSql);
            insert.Bind(1, id);
            insert.Bind(2, task.TenantId);
            insert.Bind(3, task.Request.Model);
            insert.Bind(4, task.Engine);
            insert.Bind(5, requestJson);
            insert.Bind(6, now.ToUnixTimeMilliseconds());
            insert.Bind(7, task.IdempotencyKey);
            insert.Bind(8, task.RequestHash);
            insert.Bind(9, task.Cost);
            insert.Bind(10, task.KeyId);
            insert.Step();
            if (balanceAfter is { } after)
            {
                SqliteLedger.Append(connection, task.TenantId, task.KeyId, id, Billing.LedgerKinds.Charge, -task.Cost, after, null,
                    now.ToUnixTimeMilliseconds());
            }

            var record = new TaskRecord
            {
                Id = id,
                TenantId = task.TenantId,
                Model = task.Request.Model,
                Engine = task.Engine,
                Request = task.Request,
                State = TaskState.Pending,
                CreatedAt = FromMilliseconds(now.ToUnixTimeMilliseconds()),
                UpdatedAt = FromMilliseconds(now.ToUnixTimeMilliseconds()),
                IdempotencyKey = task.IdempotencyKey,
                Cost = task.Cost,
            };
            return new CreateOutcome(record, CreateOutcomeKind.Created);
        }, cancellationToken);
    }

    /// <summary>The store's JSON form of a request (what it keeps, and what idempotency hashes).</summary>
    public static string SerializeRequest(Contracts.Requests.GenerationRequest request) =>
        JsonSerializer.Serialize(request, StoreJsonContext.Default.GenerationRequest);

    // Run through WriterStatement, prepared once on the writer's connection: creates run back to back in a batch, and
    // re-parsing the statement (and, through SqliteCommand, a data reader and boxed parameters) each time was a visible
    // part of their cost.
    private const string InsertSql = """
        INSERT INTO tasks (id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at,
                           idempotency_key, request_hash, cost, key_id)
        VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?7, ?8, ?9, ?10)
        """;

    private const string ReadAccountSql = "SELECT balance, max_in_flight FROM tenants WHERE id = ?1";

    /// <summary>The tenant's balance and cap (every create reads them).</summary>
    private (long Balance, int? MaxInFlight)? ReadAccount(string tenantId)
    {
        var read = database.WriterStatement(ReadAccountSql);
        read.Bind(1, tenantId);
        if (!read.Step())
        {
            return null;
        }

        var account = (read.Int64(0), read.IsNull(1) ? (int?)null : (int)read.Int64(1));
        read.Reset();
        return account;
    }

    public Task<TaskRecord?> GetAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM tasks WHERE id = $id AND tenant_id = $tenant";
        command.Parameters.AddWithValue("$id", taskId);
        command.Parameters.AddWithValue("$tenant", tenantId);
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read() ? ReadRecord(reader) : null);
    }

    public Task<TaskRecord?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        return database.WriteAsync(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            FailExhaustedExpiredLeases(connection, now);
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                UPDATE tasks
                SET status = 'processing', lease_owner = $worker, lease_expires_at = $expires, attempts = attempts + 1,
                    started_at = COALESCE(started_at, $now), updated_at = $now
                WHERE id = COALESCE(
                    (SELECT id FROM tasks WHERE status = 'processing' AND lease_expires_at < $now
                     ORDER BY lease_expires_at LIMIT 1),
                    (SELECT id FROM tasks WHERE status = 'pending' ORDER BY created_at LIMIT 1))
                RETURNING {Columns}
                """;
            command.Parameters.AddWithValue("$worker", workerId);
            command.Parameters.AddWithValue("$expires", now + (long)lease.TotalMilliseconds);
            command.Parameters.AddWithValue("$now", now);
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadRecord(reader) : null;
        }, cancellationToken);
    }

    public Task<bool> HeartbeatAsync(string taskId, string workerId, int progress, TimeSpan lease, CancellationToken cancellationToken)
    {
        return database.WriteAsync(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE tasks SET progress = MAX(progress, $progress), lease_expires_at = $expires, updated_at = $now
                WHERE id = $id AND lease_owner = $worker AND status = 'processing'
                """;
            command.Parameters.AddWithValue("$progress", Math.Clamp(progress, 0, 99));
            command.Parameters.AddWithValue("$expires", now + (long)lease.TotalMilliseconds);
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$id", taskId);
            command.Parameters.AddWithValue("$worker", workerId);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task<bool> CompleteAsync(string taskId, string workerId, StoredResult result, CancellationToken cancellationToken)
    {
        var resultJson = JsonSerializer.Serialize(result, StoreJsonContext.Default.StoredResult);
        return FinishAsync(taskId, workerId, """
            status = 'completed', progress = 100, result_json = $result
            """, command => command.Parameters.AddWithValue("$result", resultJson), cancellationToken);
    }

    public Task<bool> FailAsync(string taskId, string workerId, TaskFailure failure, CancellationToken cancellationToken)
    {
        return FinishAsync(taskId, workerId, """
            status = 'failed', error_code = $code, error_message = $message
            """, command =>
        {
            command.Parameters.AddWithValue("$code", failure.Code);
            command.Parameters.AddWithValue("$message", failure.Message);
        }, cancellationToken, refund: true);
    }

    public Task<bool> ReleaseAsync(string taskId, string workerId, CancellationToken cancellationToken)
    {
        return database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $now
                WHERE id = $id AND lease_owner = $worker AND status = 'processing'
                """;
            command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$id", taskId);
            command.Parameters.AddWithValue("$worker", workerId);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task<CancelOutcome> CancelAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        return database.WriteAsync(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            // Clearing the lease is what stops a running render: the worker's next heartbeat finds it gone.
            command.CommandText = $"""
                UPDATE tasks SET status = 'cancelled', finished_at = $now, updated_at = $now,
                                 lease_owner = NULL, lease_expires_at = NULL, next_poll_at = NULL
                WHERE id = $id AND tenant_id = $tenant AND status IN ('pending', 'processing')
                RETURNING {Columns}
                """;
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$id", taskId);
            command.Parameters.AddWithValue("$tenant", tenantId);
            TaskRecord? cancelled = null;
            using (var reader = command.ExecuteReader())
            {
                if (reader.Read())
                {
                    cancelled = ReadRecord(reader);
                }
            }

            if (cancelled is not null)
            {
                // Nothing was delivered; unless an upstream accepted the task (it bills it), the cost goes back now.
                var refunded = SqliteLedger.RefundIfDue(connection, taskId, now);
                return new CancelOutcome(cancelled with { Refunded = cancelled.Refunded || refunded }, Cancelled: true);
            }

            using var read = connection.CreateCommand();
            read.CommandText = $"SELECT {Columns} FROM tasks WHERE id = $id AND tenant_id = $tenant";
            read.Parameters.AddWithValue("$id", taskId);
            read.Parameters.AddWithValue("$tenant", tenantId);
            using var existing = read.ExecuteReader();
            return new CancelOutcome(existing.Read() ? ReadRecord(existing) : null, Cancelled: false);
        }, cancellationToken);
    }

    public Task<TaskPage> ListAsync(string tenantId, TaskQuery query, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = TaskRows.ListSql(tenantId, query, '$', (name, value) => command.Parameters.AddWithValue("$" + name, value));
        using var reader = command.ExecuteReader();
        var tasks = new List<TaskRecord>(query.Limit + 1);
        while (reader.Read())
        {
            tasks.Add(ReadRecord(reader));
        }

        return Task.FromResult(TaskRows.Page(tasks, query));
    }

    public Task<bool> DeleteAsync(string tenantId, string taskId, CancellationToken cancellationToken) =>
        database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM tasks WHERE id = $id AND tenant_id = $tenant";
            command.Parameters.AddWithValue("$id", taskId);
            command.Parameters.AddWithValue("$tenant", tenantId);
            if (command.ExecuteNonQuery() != 1)
            {
                return false;
            }

            // Its deliveries carry its prompt and links: they go with it, and none is sent after the delete.
            command.CommandText = "DELETE FROM webhook_deliveries WHERE task_id = $id AND tenant_id = $tenant";
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);

    public Task<int> CountPendingAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        // Served by the partial index ix_tasks_pending, so it costs the queue's length, not the table's.
        command.CommandText = "SELECT COUNT(*) FROM tasks WHERE status = 'pending'";
        return Task.FromResult(Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture));
    }

    public Task<IReadOnlyList<string>> FindEndedWithoutResultAsync(IReadOnlyList<string> taskIds, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var ended = new List<string>();
        if (taskIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<string>>(ended);
        }

        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        var names = new string[taskIds.Count];
        for (var i = 0; i < taskIds.Count; i++)
        {
            names[i] = "$id" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            command.Parameters.AddWithValue(names[i], taskIds[i]);
        }

        command.CommandText = $"SELECT id FROM tasks WHERE id IN ({string.Join(", ", names)}) AND status IN ('failed', 'cancelled')";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            ended.Add(reader.GetString(0));
        }

        return Task.FromResult<IReadOnlyList<string>>(ended);
    }

    public Task<int> RecoverOrphanedLeasesAsync(CancellationToken cancellationToken)
    {
        return database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE tasks SET lease_expires_at = 0
                WHERE status = 'processing' AND lease_owner IS NOT NULL
                """;
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }

    private Task<bool> FinishAsync(
        string taskId, string workerId, string assignments, Action<SqliteCommand> bind, CancellationToken cancellationToken,
        bool refund = false)
    {
        return database.WriteAsync(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                UPDATE tasks SET {assignments}, finished_at = $now, updated_at = $now,
                                 lease_owner = NULL, lease_expires_at = NULL
                WHERE id = $id AND lease_owner = $worker AND status = 'processing'
                """;
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$id", taskId);
            command.Parameters.AddWithValue("$worker", workerId);
            bind(command);
            var changed = command.ExecuteNonQuery() == 1;
            if (changed && refund)
            {
                SqliteLedger.RefundIfDue(connection, taskId, now);
            }

            return changed;
        }, cancellationToken);
    }

    /// <summary>A task whose worker died <see cref="TaskStoreOptions.MaxAttempts"/> times is failed, not retried forever.</summary>
    private void FailExhaustedExpiredLeases(SqliteConnection connection, long now)
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE tasks SET status = 'failed', error_code = 'attempts_exhausted',
                error_message = 'the task was interrupted ' || attempts || ' times while being made and was given up',
                finished_at = $now, updated_at = $now, lease_owner = NULL, lease_expires_at = NULL
            WHERE status = 'processing' AND lease_expires_at < $now AND attempts >= $max
            RETURNING id
            """;
        command.Parameters.AddWithValue("$now", now);
        command.Parameters.AddWithValue("$max", options.MaxAttempts);
        var failed = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                failed.Add(reader.GetString(0));
            }
        }

        foreach (var taskId in failed)
        {
            SqliteLedger.RefundIfDue(connection, taskId, now);
        }
    }

    private static (TaskRecord Record, string RequestHash)? FindByIdempotencyKey(
        SqliteConnection connection, string tenantId, string key)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns}, request_hash FROM tasks WHERE tenant_id = $tenant AND idempotency_key = $key";
        command.Parameters.AddWithValue("$tenant", tenantId);
        command.Parameters.AddWithValue("$key", key);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (ReadRecord(reader), reader.GetString(TaskRows.Next)) : null;
    }

    internal static List<TaskRecord> ReadAll(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        return TaskRows.ReadAll(reader);
    }

    internal static TaskRecord ReadRecord(SqliteDataReader reader) => TaskRows.Read(reader);

    private static DateTimeOffset FromMilliseconds(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);
}
