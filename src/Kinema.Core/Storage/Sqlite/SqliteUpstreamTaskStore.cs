using System.Text.Json;
using Kinema.Core.Engines;
using Kinema.Core.Tasks;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>Upstream task state in the same table as every task.</summary>
internal sealed class SqliteUpstreamTaskStore(SqliteDatabase database, TimeProvider time, TaskChangeFeed feed) : IUpstreamTaskStore
{
    public Task<bool> RecordIntentAsync(string taskId, string workerId, string engine, string account, CancellationToken cancellationToken) =>
        Update(taskId, """
            UPDATE tasks SET upstream_engine = $engine, upstream_account = $account, submit_intent_at = $now, updated_at = $now
            WHERE id = $id AND lease_owner = $worker AND status = 'processing' AND upstream_id IS NULL
            """, [("$engine", engine), ("$account", account), ("$worker", workerId)], cancellationToken);

    public Task<bool> RecordSubmittedAsync(
        string taskId, string workerId, UpstreamHandle handle, DateTimeOffset firstPollAt, CancellationToken cancellationToken) =>
        Update(taskId, """
            UPDATE tasks SET engine = $engine, upstream_engine = $engine, upstream_account = $account, upstream_id = $upstream,
                             next_poll_at = $poll, poll_errors = 0, lease_owner = NULL, lease_expires_at = NULL, updated_at = $now
            WHERE id = $id AND lease_owner = $worker AND status = 'processing'
            """, [("$engine", handle.Engine), ("$account", handle.Account), ("$upstream", handle.UpstreamId),
            ("$poll", firstPollAt.ToUnixTimeMilliseconds()), ("$worker", workerId)], cancellationToken);

    public Task<bool> RecordFailoverAsync(string taskId, string workerId, string nextEngine, string history, CancellationToken cancellationToken) =>
        Update(taskId, """
            UPDATE tasks SET engine = $engine, engine_history = $history, upstream_engine = NULL, upstream_account = NULL,
                             submit_intent_at = NULL, updated_at = $now
            WHERE id = $id AND lease_owner = $worker AND status = 'processing' AND upstream_id IS NULL
            """, [("$engine", nextEngine), ("$history", history), ("$worker", workerId)], cancellationToken);

    public Task<IReadOnlyList<TaskRecord>> ClaimDuePollsAsync(int max, TimeSpan claimFor, CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<TaskRecord>>(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                UPDATE tasks SET next_poll_at = $claimed
                WHERE id IN (SELECT id FROM tasks WHERE next_poll_at IS NOT NULL AND next_poll_at <= $now
                             ORDER BY next_poll_at LIMIT $max)
                RETURNING {SqliteTaskStore.Columns}
                """;
            command.Parameters.AddWithValue("$claimed", now + (long)claimFor.TotalMilliseconds);
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$max", max);
            return SqliteTaskStore.ReadAll(command);
        }, cancellationToken);

    public async Task<bool> SchedulePollAsync(
        string taskId, string upstreamId, DateTimeOffset at, int progress, int pollErrors, CancellationToken cancellationToken)
    {
        var changed = await Update(taskId, """
            UPDATE tasks SET next_poll_at = $poll, poll_errors = $errors, progress = MAX(progress, $progress),
                             updated_at = CASE WHEN progress < $progress THEN $now ELSE updated_at END
            WHERE id = $id AND upstream_id = $upstream AND status = 'processing'
            """, [("$poll", at.ToUnixTimeMilliseconds()), ("$errors", pollErrors),
            ("$progress", Math.Clamp(progress, 0, 99)), ("$upstream", upstreamId)], cancellationToken);
        return changed;
    }

    public Task<bool> PollNowAsync(string taskId, CancellationToken cancellationToken) =>
        UpdateQuietly(taskId, """
            UPDATE tasks SET next_poll_at = 0
            WHERE id = $id AND status = 'processing' AND next_poll_at IS NOT NULL AND next_poll_at > 0
            """, [], cancellationToken);

    public Task<bool> CompleteAsync(string taskId, string upstreamId, StoredResult result, CancellationToken cancellationToken) =>
        Finish(taskId, """
            UPDATE tasks SET status = 'completed', progress = 100, result_json = $result, finished_at = $now, updated_at = $now,
                             next_poll_at = NULL
            WHERE id = $id AND upstream_id = $upstream AND status = 'processing'
            """, [("$result", JsonSerializer.Serialize(result, StoreJsonContext.Default.StoredResult)), ("$upstream", upstreamId)], cancellationToken);

    public Task<bool> RecordProgressAsync(string taskId, string upstreamId, int progress, CancellationToken cancellationToken) =>
        Update(taskId, """
            UPDATE tasks SET progress = $progress, updated_at = $now
            WHERE id = $id AND upstream_id = $upstream AND status = 'processing' AND progress < $progress
            """, [("$progress", Math.Clamp(progress, 0, 99)), ("$upstream", upstreamId)], cancellationToken);

    public Task<bool> RequeueLostAsync(string taskId, string upstreamId, string history, CancellationToken cancellationToken) =>
        Update(taskId, """
            UPDATE tasks SET upstream_id = NULL, next_poll_at = NULL, poll_errors = 0, engine_history = $history,
                             lease_owner = NULL, lease_expires_at = 0, updated_at = $now
            WHERE id = $id AND upstream_id = $upstream AND status = 'processing'
            """, [("$history", history), ("$upstream", upstreamId)], cancellationToken);

    public Task<bool> FailAsync(string taskId, string upstreamId, TaskFailure failure, CancellationToken cancellationToken) =>
        Finish(taskId, refund: true, sql: """
            UPDATE tasks SET status = 'failed', error_code = $code, error_message = $message, finished_at = $now, updated_at = $now,
                             next_poll_at = NULL
            WHERE id = $id AND upstream_id = $upstream AND status = 'processing'
            """, parameters: [("$code", failure.Code), ("$message", failure.Message), ("$upstream", upstreamId)], cancellationToken: cancellationToken);

    public async Task<IReadOnlyList<TaskRecord>> FailOverdueAsync(
        DateTimeOffset startedBefore, TaskFailure failure, int max, CancellationToken cancellationToken)
    {
        var failed = await database.WriteAsync<IReadOnlyList<TaskRecord>>(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                UPDATE tasks SET status = 'failed', error_code = $code, error_message = $message, finished_at = $now,
                                 updated_at = $now, next_poll_at = NULL
                WHERE id IN (SELECT id FROM tasks WHERE next_poll_at IS NOT NULL AND status = 'processing'
                             AND started_at < $before LIMIT $max)
                RETURNING {SqliteTaskStore.Columns}
                """;
            command.Parameters.AddWithValue("$code", failure.Code);
            command.Parameters.AddWithValue("$message", failure.Message);
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$before", startedBefore.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$max", max);
            var overdue = SqliteTaskStore.ReadAll(command);
            for (var index = 0; index < overdue.Count; index++)
            {
                if (SqliteLedger.RefundIfDue(connection, overdue[index].Id, now))
                {
                    overdue[index] = overdue[index] with { Refunded = true };
                }
            }

            return overdue;
        }, cancellationToken);
        foreach (var task in failed)
        {
            feed.PublishFinished(task.Id);
        }

        return failed;
    }

    public Task<TaskRecord?> FindAsync(string taskId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {SqliteTaskStore.Columns} FROM tasks WHERE id = $id";
        command.Parameters.AddWithValue("$id", taskId);
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read() ? SqliteTaskStore.ReadRecord(reader) : null);
    }

    public Task<int> CountWaitingAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM tasks WHERE next_poll_at IS NOT NULL AND status = 'processing'";
        return Task.FromResult(Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture));
    }

    private async Task<bool> Finish(
        string taskId, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken, bool refund = false)
    {
        var changed = await UpdateQuietly(taskId, sql, parameters, cancellationToken, refund);
        if (changed)
        {
            feed.PublishFinished(taskId);
        }

        return changed;
    }

    private async Task<bool> Update(string taskId, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken)
    {
        var changed = await UpdateQuietly(taskId, sql, parameters, cancellationToken);
        if (changed)
        {
            feed.Publish(taskId);
        }

        return changed;
    }

    private async Task<bool> UpdateQuietly(
        string taskId, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken, bool refund = false)
    {
        var changed = await database.WriteAsync(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$id", taskId);
            command.Parameters.AddWithValue("$now", now);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            var changed = command.ExecuteNonQuery() == 1;
            if (changed && refund)
            {
                // In the transaction that failed the task: a crash can never leave it failed and unrefunded.
                SqliteLedger.RefundIfDue(connection, taskId, now);
            }

            return changed;
        }, cancellationToken);
        return changed;
    }
}
