using System.Text.Json;
using Kinema.Core.Engines;
using Kinema.Core.Tasks;
using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// Upstream task state in PostgreSQL. Before submission changes are fenced by the worker's lease, after it by the
/// upstream id; due polls are claimed with <c>SKIP LOCKED</c>, so every node can poll and no poll is taken twice.
/// </summary>
internal sealed class PostgresUpstreamTaskStore(PostgresDatabase database, TimeProvider time, TaskChangeFeed feed) : IUpstreamTaskStore
{
    public Task<bool> RecordIntentAsync(string taskId, string workerId, string engine, string account, CancellationToken cancellationToken) =>
        Update('c', taskId, """
            UPDATE tasks SET upstream_engine = @engine, upstream_account = @account, submit_intent_at = @now, updated_at = @now
            WHERE id = @id AND lease_owner = @worker AND status = 'processing' AND upstream_id IS NULL
            """, p =>
        {
            p.AddWithValue("engine", engine);
            p.AddWithValue("account", account);
            p.AddWithValue("worker", workerId);
        }, cancellationToken);

    public Task<bool> RecordSubmittedAsync(
        string taskId, string workerId, UpstreamHandle handle, DateTimeOffset firstPollAt, CancellationToken cancellationToken) =>
        Update('c', taskId, """
            UPDATE tasks SET engine = @engine, upstream_engine = @engine, upstream_account = @account, upstream_id = @upstream,
                             next_poll_at = @poll, poll_errors = 0, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
            WHERE id = @id AND lease_owner = @worker AND status = 'processing'
            """, p =>
        {
            p.AddWithValue("engine", handle.Engine);
            p.AddWithValue("account", handle.Account);
            p.AddWithValue("upstream", handle.UpstreamId);
            p.AddWithValue("poll", firstPollAt.ToUnixTimeMilliseconds());
            p.AddWithValue("worker", workerId);
        }, cancellationToken);

    public Task<bool> RecordFailoverAsync(string taskId, string workerId, string nextEngine, string history, CancellationToken cancellationToken) =>
        Update('c', taskId, """
            UPDATE tasks SET engine = @engine, engine_history = @history, upstream_engine = NULL, upstream_account = NULL,
                             submit_intent_at = NULL, updated_at = @now
            WHERE id = @id AND lease_owner = @worker AND status = 'processing' AND upstream_id IS NULL
            """, p =>
        {
            p.AddWithValue("engine", nextEngine);
            p.AddWithValue("history", history);
            p.AddWithValue("worker", workerId);
        }, cancellationToken);

    public async Task<IReadOnlyList<TaskRecord>> ClaimDuePollsAsync(int max, TimeSpan claimFor, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"""
            UPDATE tasks SET next_poll_at = @claimed
            WHERE id IN (SELECT id FROM tasks WHERE next_poll_at IS NOT NULL AND next_poll_at <= @now
                         ORDER BY next_poll_at LIMIT @max FOR UPDATE SKIP LOCKED)
            RETURNING {TaskRows.Columns}
            """, connection);
        command.Parameters.AddWithValue("claimed", now + (long)claimFor.TotalMilliseconds);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("max", max);
        return await PostgresTaskStore.ReadAllAsync(command, cancellationToken);
    }

    public Task<bool> SchedulePollAsync(
        string taskId, string upstreamId, DateTimeOffset at, int progress, int pollErrors, CancellationToken cancellationToken) =>
        Update('c', taskId, """
            UPDATE tasks SET next_poll_at = @poll, poll_errors = @errors, progress = GREATEST(progress, @progress),
                             updated_at = CASE WHEN progress < @progress THEN @now ELSE updated_at END
            WHERE id = @id AND upstream_id = @upstream AND status = 'processing'
            """, p =>
        {
            p.AddWithValue("poll", at.ToUnixTimeMilliseconds());
            p.AddWithValue("errors", pollErrors);
            p.AddWithValue("progress", Math.Clamp(progress, 0, 99));
            p.AddWithValue("upstream", upstreamId);
        }, cancellationToken);

    public async Task<bool> PollNowAsync(string taskId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            UPDATE tasks SET next_poll_at = 0
            WHERE id = @id AND status = 'processing' AND next_poll_at IS NOT NULL AND next_poll_at > 0
            """, connection);
        command.Parameters.AddWithValue("id", taskId);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public Task<bool> CompleteAsync(string taskId, string upstreamId, StoredResult result, CancellationToken cancellationToken) =>
        Update('f', taskId, """
            UPDATE tasks SET status = 'completed', progress = 100, result_json = @result, finished_at = @now, updated_at = @now,
                             next_poll_at = NULL
            WHERE id = @id AND upstream_id = @upstream AND status = 'processing'
            """, p =>
        {
            p.AddWithValue("result", JsonSerializer.Serialize(result, StoreJsonContext.Default.StoredResult));
            p.AddWithValue("upstream", upstreamId);
        }, cancellationToken);

    public Task<bool> RecordProgressAsync(string taskId, string upstreamId, int progress, CancellationToken cancellationToken) =>
        Update('c', taskId, """
            UPDATE tasks SET progress = @progress, updated_at = @now
            WHERE id = @id AND upstream_id = @upstream AND status = 'processing' AND progress < @progress
            """, p =>
        {
            p.AddWithValue("progress", Math.Clamp(progress, 0, 99));
            p.AddWithValue("upstream", upstreamId);
        }, cancellationToken);

    public Task<bool> RequeueLostAsync(string taskId, string upstreamId, string history, CancellationToken cancellationToken) =>
        Update(PostgresDatabase.Runnable, taskId, """
            UPDATE tasks SET upstream_id = NULL, next_poll_at = NULL, poll_errors = 0, engine_history = @history,
                             lease_owner = NULL, lease_expires_at = 0, updated_at = @now
            WHERE id = @id AND upstream_id = @upstream AND status = 'processing'
            """, p =>
        {
            p.AddWithValue("history", history);
            p.AddWithValue("upstream", upstreamId);
        }, cancellationToken);

    public Task<bool> FailAsync(string taskId, string upstreamId, TaskFailure failure, CancellationToken cancellationToken) =>
        Update('f', taskId, $"""
            UPDATE tasks SET status = 'failed', error_code = @code, error_message = @message, finished_at = @now, updated_at = @now,
                             next_poll_at = NULL, {PostgresLedger.RefundOnFailure}
            WHERE id = @id AND upstream_id = @upstream AND status = 'processing'
            """, p =>
        {
            p.AddWithValue("code", failure.Code);
            p.AddWithValue("message", failure.Message);
            p.AddWithValue("upstream", upstreamId);
        }, cancellationToken, refund: true);

    public async Task<IReadOnlyList<TaskRecord>> FailOverdueAsync(
        DateTimeOffset startedBefore, TaskFailure failure, int max, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"""
            WITH ended AS (
                UPDATE tasks SET status = 'failed', error_code = @code, error_message = @message, finished_at = @now,
                                 updated_at = @now, next_poll_at = NULL, {PostgresLedger.RefundOnFailure}
                WHERE id IN (SELECT id FROM tasks WHERE next_poll_at IS NOT NULL AND status = 'processing'
                             AND started_at < @before LIMIT @max FOR UPDATE SKIP LOCKED)
                RETURNING {TaskRows.Columns}, key_id),
            {PostgresLedger.Ctes}
            SELECT *, pg_notify(@channel, @prefix || id) FROM ended
            """, connection);
        command.Parameters.AddWithValue("code", failure.Code);
        command.Parameters.AddWithValue("message", failure.Message);
        command.Parameters.AddWithValue("now", time.GetUtcNow().ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("before", startedBefore.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("max", max);
        command.Parameters.AddWithValue("channel", PostgresDatabase.Channel);
        command.Parameters.AddWithValue("prefix", database.Payload('f', ""));
        var failed = await PostgresTaskStore.ReadAllAsync(command, cancellationToken);
        foreach (var task in failed)
        {
            feed.PublishFinished(task.Id);
        }

        return failed;
    }

    public async Task<TaskRecord?> FindAsync(string taskId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {TaskRows.Columns} FROM tasks WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", taskId);
        return (await PostgresTaskStore.ReadAllAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<int> CountWaitingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT COUNT(*) FROM tasks WHERE next_poll_at IS NOT NULL AND status = 'processing'", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<bool> Update(
        char kind, string taskId, string sql, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken, bool refund = false)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var changed = await PostgresTaskStore.ChangeAsync(database, kind, taskId, sql, p =>
        {
            p.AddWithValue("now", now);
            bind(p);
        }, cancellationToken, refund);
        if (changed && kind == 'f')
        {
            feed.PublishFinished(taskId);
        }
        else if (changed)
        {
            feed.Publish(taskId);
        }

        return changed;
    }
}
