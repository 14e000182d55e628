using System.Threading.Channels;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// Tasks in PostgreSQL, shared by every node. Creates are group-committed: whatever arrives while one batch commits
/// goes into the next, as one multi-row insert in one transaction. Claims take rows with <c>FOR UPDATE SKIP LOCKED</c>
/// so nodes never wait on each other's candidates, and every change after the claim is fenced by <c>lease_owner</c>.
/// Each change is announced with <c>NOTIFY</c> in the statement that makes it, so other nodes hear of it on commit.
/// </summary>
internal sealed partial class PostgresTaskStore : ITaskStore, IAsyncDisposable
{
    private const int MaxBatch = 512;
    private static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);

    private readonly PostgresDatabase _database;
    private readonly TimeProvider _time;
    private readonly TaskStoreOptions _options;
    private readonly ILogger _logger;
    /// <summary>
    /// Batches in flight at once. Measured on the 2-core bench machine (BENCHMARKS.md, 2026-11-30): one loop fills
    /// batches of ~38 creates and serves 5.5k HTTP creates/s; four loops split the same callers into batches of ~12,
    /// pay the per-batch round trips four times as often and serve 3.3k/s. A batch's cost is its round trips, not its rows.
    /// With the one-statement path for unpriced, unkeyed batches, two loops (6.3–7.2k/s) still lose to one (7.4–8.4k/s).
    /// </summary>
    private const int ConcurrentBatches = 1;

    private readonly Channel<PendingCreate> _creates = Channel.CreateUnbounded<PendingCreate>();
    private readonly Task _createLoop;

    private readonly Diagnostics.KinemaMetrics? _metrics;

    public PostgresTaskStore(PostgresDatabase database, TimeProvider time, TaskStoreOptions options, ILogger logger, Diagnostics.KinemaMetrics? metrics = null)
    {
        _metrics = metrics;
        _database = database;
        _time = time;
        _options = options;
        _logger = logger;
        _createLoop = Task.WhenAll(Enumerable.Range(0, ConcurrentBatches).Select(_ => Task.Run(RunCreatesAsync)));
    }

    public Task<CreateOutcome> CreateAsync(NewTask task, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new PendingCreate(task, task.RequestJson ?? SqliteTaskStore.SerializeRequest(task.Request));
        if (!_creates.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(PostgresTaskStore));
        }

        // The create is committed whether or not the caller still waits: cancellation only stops the wait.
        return pending.Completion.Task.WaitAsync(cancellationToken);
    }

    private async Task RunCreatesAsync()
    {
        var batch = new List<PendingCreate>(MaxBatch);
        var reader = _creates.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            try
            {
                await CommitCreatesAsync(batch).ConfigureAwait(false);
                _metrics?.RecordStoreBatch(batch.Count, StoreProviders.Postgres);
            }
            catch (Exception exception) when (batch.Count > 1 && exception is PostgresException)
            {
                // One bad row must not fail its neighbours: replay the batch one create at a time.
                foreach (var pending in batch)
                {
                    try
                    {
                        await CommitCreatesAsync([pending]).ConfigureAwait(false);
                    }
                    catch (Exception single)
                    {
                        pending.Completion.TrySetException(single);
                    }
                }
            }
            catch (Exception exception)
            {
                if (StoreFaults.IsUnreachable(exception))
                {
                    // Each caller answers 503 and logs why, and the background loops report the outage: only a debug line here.
                    var kind = exception.GetType().Name;
                    var reason = StoreFaults.Reason(exception);
                    LogBatchUnreachable(_logger, batch.Count, kind, reason);
                }
                else
                {
                    LogBatchFailed(_logger, batch.Count, exception);
                }

                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(exception);
                }
            }
        }
    }

    private async Task CommitCreatesAsync(List<PendingCreate> batch)
    {
        var now = _time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        await using var connection = await _database.OpenAsync(CancellationToken.None).ConfigureAwait(false);
        if (batch.TrueForAll(p => p.Task.Cost == 0 && p.Task.IdempotencyKey is null)
            && await TryCommitUnguardedAsync(connection, batch, now).ConfigureAwait(false))
        {
            return;
        }

        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);

        // The batch's tenants' accounts, locked first (in id order, so racing batches on other nodes queue rather than
        // deadlock): until this commits, no other node can charge these balances or add tasks for these tenants, and
        // because the lock is taken before the idempotency lookup, that lookup sees every task they committed.
        var accounts = await LockAccountsAsync(connection, batch).ConfigureAwait(false);

        // Keys seen earlier (in the table, or earlier in this batch) answer without inserting.
        var outcomes = new CreateOutcome?[batch.Count];
        var keyed = batch.Select((pending, index) => (pending, index)).Where(p => p.pending.Task.IdempotencyKey is not null).ToList();
        var earlier = keyed.Count == 0
            ? new Dictionary<(string, string), (TaskRecord Record, string Hash)>()
            : await FindByKeysAsync(connection, keyed.Select(k => (k.pending.Task.TenantId, k.pending.Task.IdempotencyKey!)).ToList()).ConfigureAwait(false);
        var expired = earlier.Where(e => now - e.Value.Record.CreatedAt >= IdempotencyWindow).Select(e => e.Key).ToList();
        if (expired.Count > 0)
        {
            // The key's 24 h are over: it may name a new task.
            await using var release = new NpgsqlCommand("UPDATE tasks SET idempotency_key = NULL WHERE id = ANY(@ids)", connection);
            release.Parameters.AddWithValue("ids", expired.Select(key => earlier[key].Record.Id).ToArray());
            await release.ExecuteNonQueryAsync().ConfigureAwait(false);
            foreach (var key in expired)
            {
                earlier.Remove(key);
            }
        }

        var inBatch = new Dictionary<(string, string), int>();
        var toInsert = new List<(int Index, TaskRecord Record)>();
        for (var index = 0; index < batch.Count; index++)
        {
            var task = batch[index].Task;
            if (task.IdempotencyKey is { } key)
            {
                if (earlier.TryGetValue((task.TenantId, key), out var found))
                {
                    outcomes[index] = Replay(found.Record, found.Hash, task.RequestHash);
                    continue;
                }

                if (inBatch.ContainsKey((task.TenantId, key)))
                {
                    continue; // Answered after the insert, from the first create that carried the key.
                }
            }

            if (Refusal(task, accounts) is { } refused)
            {
                outcomes[index] = refused;
                continue;
            }

            if (task.IdempotencyKey is { } accepted)
            {
                inBatch[(task.TenantId, accepted)] = index;
            }

            toInsert.Add((index, NewRecord(task, now)));
        }

        var inserted = new HashSet<string>(StringComparer.Ordinal);
        if (toInsert.Count > 0)
        {
            // The notice that work is queued rides in the same statement (PostgreSQL sends one per transaction for
            // identical payloads): one round trip fewer on every batch.
            await using var insert = InsertCommand(connection, guardCaps: false, toInsert, batch, nowMs);
            await using (var reader = await insert.ExecuteReaderAsync().ConfigureAwait(false))
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    inserted.Add(reader.GetString(0));
                }
            }

            foreach (var (index, record) in toInsert.Where(i => inserted.Contains(i.Record.Id)))
            {
                outcomes[index] = new CreateOutcome(record, CreateOutcomeKind.Created);
            }

            // A create that lost its key to another node's concurrent insert answers with that node's task.
            var lost = toInsert.Where(i => !inserted.Contains(i.Record.Id)).ToList();
            if (lost.Count > 0)
            {
                var winners = await FindByKeysAsync(connection, lost.Select(l => (l.Record.TenantId, l.Record.IdempotencyKey!)).ToList()).ConfigureAwait(false);
                foreach (var (index, record) in lost)
                {
                    var winner = winners[(record.TenantId, record.IdempotencyKey!)];
                    outcomes[index] = Replay(winner.Record, winner.Hash, batch[index].Task.RequestHash);
                }
            }
        }

        await ChargeAsync(connection, toInsert.Where(i => inserted.Contains(i.Record.Id)).Select(i => (i.Record, batch[i.Index].Task)).ToList(),
            accounts, nowMs).ConfigureAwait(false);

        await transaction.CommitAsync().ConfigureAwait(false);

        for (var index = 0; index < batch.Count; index++)
        {
            if (outcomes[index] is null)
            {
                // A second create in this batch with a key the first one carried.
                var task = batch[index].Task;
                var firstOutcome = outcomes[inBatch[(task.TenantId, task.IdempotencyKey!)]]!;
                outcomes[index] = Replay(firstOutcome.Task!, batch[inBatch[(task.TenantId, task.IdempotencyKey!)]].Task.RequestHash, task.RequestHash);
            }

            batch[index].Completion.TrySetResult(outcomes[index]!);
        }
    }

    /// <summary>
    /// The common batch (nothing to charge, no idempotency key) in one round trip: a single autocommitted statement
    /// inserts every create and announces them, unless a tenant of the batch has an in-flight cap, in which case it
    /// inserts nothing and the batch takes the locked path. False when it did not insert.
    /// </summary>
    private async Task<bool> TryCommitUnguardedAsync(NpgsqlConnection connection, List<PendingCreate> batch, DateTimeOffset now)
    {
        var records = batch.Select((pending, index) => (index, NewRecord(pending.Task, now))).ToList();
        await using var insert = InsertCommand(connection, guardCaps: true, records, batch, now.ToUnixTimeMilliseconds());
        var inserted = 0;
        await using (var reader = await insert.ExecuteReaderAsync().ConfigureAwait(false))
        {
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                inserted++;
            }
        }

        if (inserted == 0)
        {
            return false;
        }

        for (var index = 0; index < batch.Count; index++)
        {
            batch[index].Completion.TrySetResult(new CreateOutcome(records[index].Item2, CreateOutcomeKind.Created));
        }

        return true;
    }

    private static TaskRecord NewRecord(NewTask task, DateTimeOffset now) => new()
    {
        Id = TaskIds.New(now),
        TenantId = task.TenantId,
        Model = task.Request.Model,
        Engine = task.Engine,
        Request = task.Request,
        State = TaskState.Pending,
        CreatedAt = TaskRows.FromMilliseconds(now.ToUnixTimeMilliseconds()),
        UpdatedAt = TaskRows.FromMilliseconds(now.ToUnixTimeMilliseconds()),
        IdempotencyKey = task.IdempotencyKey,
        Cost = task.Cost,
    };

    /// <summary>
    /// The multi-row insert of a batch, with the queued-work notice in the same statement (PostgreSQL sends one per
    /// transaction for identical payloads). With <paramref name="guardCaps"/> it inserts nothing when a tenant of the
    /// batch has an in-flight cap, since only the locked path may count against a cap.
    /// </summary>
    private NpgsqlCommand InsertCommand(
        NpgsqlConnection connection, bool guardCaps, List<(int Index, TaskRecord Record)> toInsert, List<PendingCreate> batch, long nowMs)
    {
        var capGuard = guardCaps ? "WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE id = ANY(@tenants) AND max_in_flight IS NOT NULL)" : "";
        var insert = new NpgsqlCommand($"""
            WITH inserted AS (
                INSERT INTO tasks (id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at,
                                   idempotency_key, request_hash, cost, key_id)
                SELECT id, tenant, model, engine, request, 'pending', 0, @now, @now, key, hash, cost, key_id
                FROM unnest(@ids, @tenants, @models, @engines, @requests, @keys, @hashes, @costs, @key_ids)
                     AS t(id, tenant, model, engine, request, key, hash, cost, key_id)
                {capGuard}
                ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING id)
            SELECT id, pg_notify(@channel, @payload) FROM inserted
            """, connection);
        insert.Parameters.AddWithValue("now", nowMs);
        insert.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
        insert.Parameters.AddWithValue("payload", _database.Payload('n', ""));
        AddTextArray(insert, "ids", toInsert.Select(i => (string?)i.Record.Id));
        AddTextArray(insert, "tenants", toInsert.Select(i => (string?)i.Record.TenantId));
        AddTextArray(insert, "models", toInsert.Select(i => (string?)i.Record.Model));
        AddTextArray(insert, "engines", toInsert.Select(i => (string?)i.Record.Engine));
        AddTextArray(insert, "requests", toInsert.Select(i => (string?)batch[i.Index].RequestJson));
        AddTextArray(insert, "keys", toInsert.Select(i => i.Record.IdempotencyKey));
        AddTextArray(insert, "hashes", toInsert.Select(i => (string?)batch[i.Index].Task.RequestHash));
        insert.Parameters.AddWithValue("costs", toInsert.Select(i => batch[i.Index].Task.Cost).ToArray());
        AddTextArray(insert, "key_ids", toInsert.Select(i => batch[i.Index].Task.KeyId));
        return insert;
    }

    /// <summary>A tenant's account as this batch sees it while holding its row lock: what is left after the creates accepted so far.</summary>
    private sealed class LockedAccount(long balance, int? maxInFlight)
    {
        public long Balance { get; set; } = balance;
        public long StartBalance { get; } = balance;
        public int? MaxInFlight { get; } = maxInFlight;
        public long InFlight { get; set; }
    }

    /// <summary>
    /// The batch's tenants' accounts. Money moves only under the tenant's row lock, so a batch that charges locks its
    /// tenants (in id order, like every locker of tenant rows). A batch that charges nothing reads them without a
    /// lock, so batches of one tenant commit side by side instead of queueing on its row, and then locks only the
    /// tenants with a cap, whose in-flight count must not move between the count and the insert. (A cap set at the
    /// very moment such a batch reads the tenant applies from the next batch.)
    /// </summary>
    private static async Task<Dictionary<string, LockedAccount>> LockAccountsAsync(NpgsqlConnection connection, List<PendingCreate> batch)
    {
        var charges = batch.Any(p => p.Task.Cost > 0);
        var accounts = await ReadAccountsAsync(connection, batch.Select(p => (string?)p.Task.TenantId).Distinct(), lockRows: charges)
            .ConfigureAwait(false);
        if (!charges && accounts.Where(a => a.Value.MaxInFlight is not null).Select(a => (string?)a.Key).ToList() is { Count: > 0 } toLock)
        {
            foreach (var (tenant, account) in await ReadAccountsAsync(connection, toLock, lockRows: true).ConfigureAwait(false))
            {
                accounts[tenant] = account;
            }
        }

        var capped = accounts.Where(a => a.Value.MaxInFlight is not null).Select(a => (string?)a.Key).ToList();
        if (capped.Count > 0)
        {
            // READ COMMITTED takes a fresh snapshot per statement: this count, after the lock, sees every task a racing
            // batch committed before releasing it.
            await using var count = new NpgsqlCommand("""
                SELECT tenant_id, COUNT(*) FROM tasks WHERE tenant_id = ANY(@tenants) AND status IN ('pending', 'processing')
                GROUP BY tenant_id
                """, connection);
            AddTextArray(count, "tenants", capped);
            await using var reader = await count.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                accounts[reader.GetString(0)].InFlight = reader.GetInt64(1);
            }
        }

        return accounts;
    }

    private static async Task<Dictionary<string, LockedAccount>> ReadAccountsAsync(NpgsqlConnection connection, IEnumerable<string?> tenants, bool lockRows)
    {
        var accounts = new Dictionary<string, LockedAccount>(StringComparer.Ordinal);
        await using var read = new NpgsqlCommand(
            "SELECT id, balance, max_in_flight FROM tenants WHERE id = ANY(@tenants)" + (lockRows ? " ORDER BY id FOR UPDATE" : ""), connection);
        AddTextArray(read, "tenants", tenants);
        await using var reader = await read.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            accounts[reader.GetString(0)] = new LockedAccount(reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetInt32(2));
        }

        return accounts;
    }

    /// <summary>Why a create is refused (its tenant is at its cap, or its balance does not cover it), or null; an accepted one is counted.</summary>
    private static CreateOutcome? Refusal(NewTask task, Dictionary<string, LockedAccount> accounts)
    {
        if (!accounts.TryGetValue(task.TenantId, out var account))
        {
            return task.Cost > 0 ? new CreateOutcome(null, CreateOutcomeKind.InsufficientCredits, Balance: 0) : null;
        }

        if (account.MaxInFlight is { } cap && account.InFlight >= cap)
        {
            return new CreateOutcome(null, CreateOutcomeKind.TooManyInFlight, MaxInFlight: cap);
        }

        if (account.Balance < task.Cost)
        {
            return new CreateOutcome(null, CreateOutcomeKind.InsufficientCredits, Balance: account.Balance);
        }

        account.Balance -= task.Cost;
        account.InFlight++;
        return null;
    }

    /// <summary>
    /// Debits the inserted tasks' costs (<c>balance &gt;= cost</c> in the update and a CHECK on the column make an
    /// overdraw impossible even if this code were wrong) and writes one ledger line per charge.
    /// </summary>
    private static async Task ChargeAsync(
        NpgsqlConnection connection, List<(TaskRecord Record, NewTask Task)> created, Dictionary<string, LockedAccount> accounts, long nowMs)
    {
        var charged = created.Where(c => c.Task.Cost > 0).ToList();
        if (charged.Count == 0)
        {
            return;
        }

        var totals = charged.GroupBy(c => c.Task.TenantId, StringComparer.Ordinal)
            .Select(g => (Tenant: g.Key, Total: g.Sum(c => c.Task.Cost))).ToList();
        await using (var debit = new NpgsqlCommand("""
            UPDATE tenants t SET balance = t.balance - d.total
            FROM unnest(@tenants, @totals) AS d(tenant, total)
            WHERE t.id = d.tenant AND t.balance >= d.total
            RETURNING t.id, t.balance
            """, connection))
        {
            AddTextArray(debit, "tenants", totals.Select(t => (string?)t.Tenant));
            debit.Parameters.AddWithValue("totals", totals.Select(t => t.Total).ToArray());
            var debited = 0;
            await using var reader = await debit.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                debited++;
            }

            if (debited != totals.Count)
            {
                throw new InvalidOperationException("A tenant's balance changed under its row lock; the batch is rolled back.");
            }
        }

        // Balances after each charge, in the order the batch accepted them (ledger ids follow that order).
        var running = accounts.ToDictionary(a => a.Key, a => a.Value.StartBalance, StringComparer.Ordinal);
        var after = new List<long>(charged.Count);
        foreach (var (_, task) in charged)
        {
            running[task.TenantId] -= task.Cost;
            after.Add(running[task.TenantId]);
        }

        await using var lines = new NpgsqlCommand("""
            INSERT INTO ledger (tenant_id, key_id, task_id, kind, amount, balance_after, created_at)
            SELECT tenant, key_id, task_id, 'charge', -cost, balance_after, @now
            FROM unnest(@tenants, @key_ids, @task_ids, @costs, @after) WITH ORDINALITY AS l(tenant, key_id, task_id, cost, balance_after, n)
            ORDER BY n
            """, connection);
        lines.Parameters.AddWithValue("now", nowMs);
        AddTextArray(lines, "tenants", charged.Select(c => (string?)c.Task.TenantId));
        AddTextArray(lines, "key_ids", charged.Select(c => c.Task.KeyId));
        AddTextArray(lines, "task_ids", charged.Select(c => (string?)c.Record.Id));
        lines.Parameters.AddWithValue("costs", charged.Select(c => c.Task.Cost).ToArray());
        lines.Parameters.AddWithValue("after", after.ToArray());
        await lines.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private static CreateOutcome Replay(TaskRecord earlier, string earlierHash, string requestHash) =>
        new(earlier, earlierHash == requestHash ? CreateOutcomeKind.Replayed : CreateOutcomeKind.KeyConflict);

    private static async Task<Dictionary<(string, string), (TaskRecord Record, string Hash)>> FindByKeysAsync(
        NpgsqlConnection connection, List<(string Tenant, string Key)> keys)
    {
        await using var command = new NpgsqlCommand($"""
            SELECT {TaskRows.Columns}, request_hash FROM tasks
            WHERE (tenant_id, idempotency_key) IN (SELECT * FROM unnest(@tenants, @keys))
            """, connection);
        AddTextArray(command, "tenants", keys.Select(k => (string?)k.Tenant));
        AddTextArray(command, "keys", keys.Select(k => (string?)k.Key));
        var found = new Dictionary<(string, string), (TaskRecord, string)>();
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            var record = TaskRows.Read(reader);
            found[(record.TenantId, record.IdempotencyKey!)] = (record, reader.GetString(TaskRows.Next));
        }

        return found;
    }

    internal static void AddTextArray(NpgsqlCommand command, string name, IEnumerable<string?> values) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() });

    public async Task<TaskRecord?> GetAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {TaskRows.Columns} FROM tasks WHERE id = @id AND tenant_id = @tenant", connection);
        command.Parameters.AddWithValue("id", taskId);
        command.Parameters.AddWithValue("tenant", tenantId);
        return (await ReadAllAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<TaskRecord?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await _database.OpenAsync(cancellationToken);
        // A task whose workers died MaxAttempts times is failed, not retried forever.
        await using (var exhausted = new NpgsqlCommand($"""
            WITH ended AS (
                UPDATE tasks SET status = 'failed', error_code = 'attempts_exhausted',
                    error_message = 'the task was interrupted ' || attempts || ' times while being made and was given up',
                    finished_at = @now, updated_at = @now, lease_owner = NULL, lease_expires_at = NULL, {PostgresLedger.RefundOnFailure}
                WHERE id IN (SELECT id FROM tasks WHERE status = 'processing' AND lease_expires_at < @now AND attempts >= @max
                             FOR UPDATE SKIP LOCKED)
                RETURNING {PostgresLedger.Returning}),
            {PostgresLedger.Ctes}
            SELECT pg_notify(@channel, @prefix || id) FROM ended
            """, connection))
        {
            exhausted.Parameters.AddWithValue("now", now);
            exhausted.Parameters.AddWithValue("max", _options.MaxAttempts);
            exhausted.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
            exhausted.Parameters.AddWithValue("prefix", _database.Payload('f', ""));
            await exhausted.ExecuteNonQueryAsync(cancellationToken);
        }

        // Expired leases first (their tasks waited longest), then the oldest pending task; rows another node is
        // claiming right now are skipped, not waited for.
        await using var command = new NpgsqlCommand($"""
            WITH candidate AS (
                SELECT COALESCE(
                    (SELECT id FROM tasks WHERE status = 'processing' AND lease_expires_at < @now AND attempts < @max
                     ORDER BY lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED),
                    (SELECT id FROM tasks WHERE status = 'pending' ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)) AS id),
            claimed AS (
                UPDATE tasks t
                SET status = 'processing', lease_owner = @worker, lease_expires_at = @expires, attempts = t.attempts + 1,
                    started_at = COALESCE(t.started_at, @now), updated_at = @now
                FROM candidate WHERE t.id = candidate.id
                RETURNING {Qualified("t")})
            SELECT *, pg_notify(@channel, @prefix || id) FROM claimed
            """, connection);
        command.Parameters.AddWithValue("worker", workerId);
        command.Parameters.AddWithValue("expires", now + (long)lease.TotalMilliseconds);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("max", _options.MaxAttempts);
        command.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
        command.Parameters.AddWithValue("prefix", _database.Payload('c', ""));
        return (await ReadAllAsync(command, cancellationToken)).FirstOrDefault();
    }

    public Task<bool> HeartbeatAsync(string taskId, string workerId, int progress, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return ChangeAsync('c', taskId, """
            UPDATE tasks SET progress = GREATEST(progress, @progress), lease_expires_at = @expires, updated_at = @now
            WHERE id = @id AND lease_owner = @worker AND status = 'processing'
            """, parameters =>
        {
            parameters.AddWithValue("progress", Math.Clamp(progress, 0, 99));
            parameters.AddWithValue("expires", now + (long)lease.TotalMilliseconds);
            parameters.AddWithValue("now", now);
            parameters.AddWithValue("worker", workerId);
        }, cancellationToken);
    }

    public Task<bool> CompleteAsync(string taskId, string workerId, StoredResult result, CancellationToken cancellationToken) =>
        FinishAsync(taskId, workerId, "status = 'completed', progress = 100, result_json = @result",
            parameters => parameters.AddWithValue("result", System.Text.Json.JsonSerializer.Serialize(result, StoreJsonContext.Default.StoredResult)),
            cancellationToken);

    public Task<bool> FailAsync(string taskId, string workerId, TaskFailure failure, CancellationToken cancellationToken) =>
        FinishAsync(taskId, workerId, $"status = 'failed', error_code = @code, error_message = @message, {PostgresLedger.RefundOnFailure}", parameters =>
        {
            parameters.AddWithValue("code", failure.Code);
            parameters.AddWithValue("message", failure.Message);
        }, cancellationToken, refund: true);

    public Task<bool> ReleaseAsync(string taskId, string workerId, CancellationToken cancellationToken) =>
        ChangeAsync(PostgresDatabase.Runnable, taskId, """
            UPDATE tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
            WHERE id = @id AND lease_owner = @worker AND status = 'processing'
            """, parameters =>
        {
            parameters.AddWithValue("now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            parameters.AddWithValue("worker", workerId);
        }, cancellationToken);

    public async Task<CancelOutcome> CancelAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        // Clearing the lease is what stops a running render: the worker's next heartbeat finds it gone.
        // Nothing was delivered; unless an upstream accepted the task (it bills it), the cost goes back in this statement.
        await using var command = new NpgsqlCommand($"""
            WITH ended AS (
                UPDATE tasks SET status = 'cancelled', finished_at = @now, updated_at = @now,
                                 lease_owner = NULL, lease_expires_at = NULL, next_poll_at = NULL, {PostgresLedger.RefundOnCancel}
                WHERE id = @id AND tenant_id = @tenant AND status IN ('pending', 'processing')
                RETURNING {TaskRows.Columns}, key_id),
            {PostgresLedger.Ctes}
            SELECT *, pg_notify(@channel, @payload) FROM ended
            """, connection);
        command.Parameters.AddWithValue("now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("id", taskId);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
        command.Parameters.AddWithValue("payload", _database.Payload('f', taskId));
        if ((await ReadAllAsync(command, cancellationToken)).FirstOrDefault() is { } cancelledTask)
        {
            return new CancelOutcome(cancelledTask, Cancelled: true);
        }

        await using var read = new NpgsqlCommand($"SELECT {TaskRows.Columns} FROM tasks WHERE id = @id AND tenant_id = @tenant", connection);
        read.Parameters.AddWithValue("id", taskId);
        read.Parameters.AddWithValue("tenant", tenantId);
        return new CancelOutcome((await ReadAllAsync(read, cancellationToken)).FirstOrDefault(), Cancelled: false);
    }

    public async Task<TaskPage> ListAsync(string tenantId, TaskQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand { Connection = connection };
        command.CommandText = TaskRows.ListSql(tenantId, query, '@', (name, value) => command.Parameters.AddWithValue(name, value));
        return TaskRows.Page(await ReadAllAsync(command, cancellationToken), query);
    }

    public async Task<bool> DeleteAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Announced like a change, so other nodes drop their cached state of the task.
        await using (var command = new NpgsqlCommand("""
            WITH deleted AS (DELETE FROM tasks WHERE id = @id AND tenant_id = @tenant RETURNING id)
            SELECT pg_notify(@channel, @payload) FROM deleted
            """, connection, transaction))
        {
            command.Parameters.AddWithValue("id", taskId);
            command.Parameters.AddWithValue("tenant", tenantId);
            command.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
            command.Parameters.AddWithValue("payload", _database.Payload('c', taskId));
            var rows = 0;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows++;
            }

            if (rows != 1)
            {
                return false;
            }
        }

        // Its deliveries carry its prompt and links: they go with it, and none is sent after the delete. A statement of
        // its own, after the task's: an announcing sweep that held the task's row lock has committed its deliveries by
        // the time the delete above got the row, and only a later statement's snapshot sees them.
        await using (var deliveries = new NpgsqlCommand(
            "DELETE FROM webhook_deliveries WHERE task_id = @id AND tenant_id = @tenant", connection, transaction))
        {
            deliveries.Parameters.AddWithValue("id", taskId);
            deliveries.Parameters.AddWithValue("tenant", tenantId);
            await deliveries.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<int> CountPendingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM tasks WHERE status = 'pending'", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<IReadOnlyList<string>> FindEndedWithoutResultAsync(IReadOnlyList<string> taskIds, CancellationToken cancellationToken)
    {
        var ended = new List<string>();
        if (taskIds.Count == 0)
        {
            return ended;
        }

        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT id FROM tasks WHERE id = ANY(@ids) AND status IN ('failed', 'cancelled')", connection);
        command.Parameters.AddWithValue("ids", taskIds.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ended.Add(reader.GetString(0));
        }

        return ended;
    }

    /// <summary>
    /// Nothing to do on a shared store: other nodes may be alive and holding leases, so a starting node cannot assume
    /// they are orphaned. A dead node's tasks are taken again when their leases run out.
    /// </summary>
    public Task<int> RecoverOrphanedLeasesAsync(CancellationToken cancellationToken) => Task.FromResult(0);

    private Task<bool> FinishAsync(
        string taskId, string workerId, string assignments, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken,
        bool refund = false) =>
        ChangeAsync('f', taskId, $"""
            UPDATE tasks SET {assignments}, finished_at = @now, updated_at = @now, lease_owner = NULL, lease_expires_at = NULL
            WHERE id = @id AND lease_owner = @worker AND status = 'processing'
            """, parameters =>
        {
            parameters.AddWithValue("now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            parameters.AddWithValue("worker", workerId);
            bind(parameters);
        }, cancellationToken, refund);

    /// <summary>Runs a fenced single-row update and, when it changed the row, announces it in the same statement.</summary>
    /// <remarks>With <paramref name="refund"/>, the update ends the task and sets <c>refunded</c> (see <see cref="PostgresLedger"/>):
    /// the same statement credits the tenant and writes the ledger line.</remarks>
    internal static async Task<bool> ChangeAsync(
        PostgresDatabase database, char kind, string taskId, string update, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken,
        bool refund = false)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(refund
            ? $"""
               WITH ended AS ({update} RETURNING {PostgresLedger.Returning}),
               {PostgresLedger.Ctes}
               SELECT pg_notify(@channel, @payload) FROM ended
               """
            : $"""
               WITH changed AS ({update} RETURNING id)
               SELECT pg_notify(@channel, @payload) FROM changed
               """, connection);
        command.Parameters.AddWithValue("id", taskId);
        command.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
        command.Parameters.AddWithValue("payload", database.Payload(kind, taskId));
        bind(command.Parameters);
        var rows = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows++;
        }

        return rows == 1;
    }

    private Task<bool> ChangeAsync(
        char kind, string taskId, string update, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken, bool refund = false) =>
        ChangeAsync(_database, kind, taskId, update, bind, cancellationToken, refund);

    internal static async Task<List<TaskRecord>> ReadAllAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var tasks = new List<TaskRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            tasks.Add(TaskRows.Read(reader));
        }

        return tasks;
    }

    /// <summary>The task columns qualified by a table alias (for <c>UPDATE … FROM</c>, where names would be ambiguous).</summary>
    internal static string Qualified(string alias) =>
        string.Join(", ", TaskRows.Columns.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(c => $"{alias}.{c}"));

    public async ValueTask DisposeAsync()
    {
        _creates.Writer.TryComplete();
        await _createLoop.ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "A batch of {Count} PostgreSQL creates was not written: the database is out of reach ({Kind}: {Reason})")]
    private static partial void LogBatchUnreachable(ILogger logger, int count, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A batch of {Count} PostgreSQL creates failed to commit")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception exception);

    private sealed class PendingCreate(NewTask task, string requestJson)
    {
        public NewTask Task { get; } = task;
        public string RequestJson { get; } = requestJson;
        public TaskCompletionSource<CreateOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
