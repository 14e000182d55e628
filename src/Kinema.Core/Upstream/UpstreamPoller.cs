using System.Collections.Concurrent;
using Kinema.Core.Diagnostics;
using Kinema.Core.Engines;
using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Upstream;

/// <summary>
/// Follows every task waiting upstream, each on its own schedule: due polls are claimed from the store in batches and
/// run concurrently under a node-wide cap and a per-account cap, so thousands of tasks in flight cost a steady trickle
/// of requests, not a serial loop. A callback only makes a poll due sooner; the upstream's answer to the poll is the
/// only thing trusted. Once an hour-old task's deadline passes, the sweeper fails it.
/// </summary>
internal sealed partial class UpstreamPoller(
    IUpstreamTaskStore store,
    EngineRegistry engines,
    ResultArchiver archiver,
    IResultStorage archiveStorage,
    UpstreamPollerSignal signal,
    Scheduling.TaskQueueSignal queue,
    IOptions<UpstreamOptions> options,
    IOptions<TaskStoreOptions> taskOptions,
    TimeProvider time,
    KinemaMetrics metrics,
    ILogger<UpstreamPoller> logger) : BackgroundService
{
    /// <summary>How long a claimed poll is reserved: if this node dies mid-poll, the poll comes due again after it.</summary>
    private static readonly TimeSpan ClaimFor = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(250);

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _perAccount = new(StringComparer.Ordinal);
    private readonly UpstreamOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!engines.HasUpstreams)
        {
            return;
        }

        using var global = new SemaphoreSlim(_options.MaxConcurrentPolls);
        var lastSweep = DateTimeOffset.MinValue;
        var running = new List<Task>();
        var outage = new StoreOutageLog(logger, "The upstream poller", time);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (time.GetUtcNow() - lastSweep > _options.SweepInterval)
                {
                    lastSweep = time.GetUtcNow();
                    await SweepOverdueAsync(stoppingToken);
                    if (archiver.RemoveStaleCopies(ResultArchiver.KeptCopyIdleLimit) is > 0 and var removed)
                    {
                        LogStaleCopiesRemoved(logger, removed);
                    }
                }

                var free = global.CurrentCount;
                var due = free > 0 ? await store.ClaimDuePollsAsync(free, ClaimFor, stoppingToken) : [];
                outage.Succeeded();
                foreach (var task in due)
                {
                    await global.WaitAsync(stoppingToken);
                    running.Add(RunPollAsync(task, global, stoppingToken));
                }

                running.RemoveAll(t => t.IsCompleted);
                if (global.CurrentCount == 0)
                {
                    // Every slot is busy: go on as soon as one frees, not after a fixed nap.
                    await global.WaitAsync(stoppingToken);
                    global.Release();
                }
                else if (due.Count == 0)
                {
                    await signal.WaitAsync(IdleWait, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                outage.Failed(exception);
                await Task.Delay(IdleWait, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task RunPollAsync(TaskRecord task, SemaphoreSlim global, CancellationToken stoppingToken)
    {
        var account = _perAccount.GetOrAdd(task.Upstream!.Engine + "/" + task.Upstream.Account,
            _ => new SemaphoreSlim(_options.MaxConcurrentPollsPerAccount));
        try
        {
            await Task.Yield();
            await account.WaitAsync(stoppingToken);
            try
            {
                await PollOnceAsync(task, stoppingToken);
            }
            finally
            {
                account.Release();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The claim runs out and another start polls it again.
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogPollFault(logger, task.Id, exception);
        }
        finally
        {
            global.Release();
        }
    }

    internal async Task PollOnceAsync(TaskRecord task, CancellationToken cancellationToken)
    {
        var handle = task.Upstream!;
        if (engines.Find(handle.Engine) is not IUpstreamEngine engine)
        {
            await FailAsync(task, new TaskFailure(
                "engine_unavailable", $"the engine '{handle.Engine}' this task is pinned to is no longer configured"));
            return;
        }

        using var activity = KinemaActivities.StartTaskActivity("upstream.poll", task.Id, handle.Engine, System.Diagnostics.ActivityKind.Client);
        activity?.SetTag("kinema.upstream_id", handle.UpstreamId);
        var age = time.GetUtcNow() - (task.StartedAt ?? task.CreatedAt);
        var outcome = "error";
        try
        {
            var status = await engine.PollAsync(handle, cancellationToken);
            switch (status.State)
            {
                case UpstreamState.Queued or UpstreamState.Running:
                    outcome = "running";
                    await store.SchedulePollAsync(task.Id, handle.UpstreamId, time.GetUtcNow() + PollSchedule.NextDelay(age, _options),
                        status.Progress ?? task.Progress, 0, cancellationToken);
                    break;
                case UpstreamState.Succeeded:
                    outcome = "succeeded";
                    var result = await archiver.ArchiveAsync(task.Id, handle.UpstreamId, status, engine as IUpstreamResultHost, cancellationToken);
                    if (await store.CompleteAsync(task.Id, handle.UpstreamId, result, CancellationToken.None))
                    {
                        metrics.TaskCompleted(handle.Engine, task.Model);
                        metrics.UpstreamFinished(handle.Engine, "completed", time.GetUtcNow() - (task.StartedAt ?? task.CreatedAt));
                        LogCompleted(logger, task.Id, handle.Engine);
                    }
                    else if (await UnclaimedResults.RemoveAsync(archiveStorage, task.Id, await store.FindAsync(task.Id, CancellationToken.None),
                                 CancellationToken.None))
                    {
                        // Cancelled or deleted while its video was being archived: nothing links to the copy any more.
                        LogUnclaimedRemoved(logger, task.Id);
                    }

                    break;
                case UpstreamState.Cancelled:
                    outcome = "cancelled";
                    await FailAsync(task, new TaskFailure(
                        "cancelled_upstream", status.FailureMessage ?? "the task was cancelled at the upstream service"));
                    break;
                default:
                    outcome = "failed";
                    await FailAsync(task, new TaskFailure(
                        status.FailureCode ?? "upstream_failed", status.FailureMessage ?? "the upstream service failed the task"));
                    break;
            }
        }
        catch (UpstreamException failure) when (failure.Kind is UpstreamErrorKind.Transient or UpstreamErrorKind.RateLimited)
        {
            outcome = "transient_error";
            var errors = task.PollErrors + 1;
            // One line with the reason, no stack trace: HttpClient's own categories are at Warning by default.
            LogPollRetry(logger, task.Id, handle.Engine, failure.Code, failure.Message, errors);
            if (errors > _options.TransientErrorBudget)
            {
                await FailAsync(task, new TaskFailure(
                    failure.Code, $"the upstream kept failing ({errors} times in a row): {failure.Message}"));
                return;
            }

            await store.SchedulePollAsync(task.Id, handle.UpstreamId,
                time.GetUtcNow() + PollSchedule.NextDelay(age, _options, failure.RetryAfter, errors), task.Progress, errors, cancellationToken);
        }
        catch (UpstreamException failure) when (failure.Kind == UpstreamErrorKind.NotFound && engine.ResubmitsLostTasks)
        {
            outcome = "lost";
            await ResubmitLostAsync(task, failure);
        }
        catch (Exception exception) when (ResultStorageUnavailableException.IsIn(exception) && !cancellationToken.IsCancellationRequested)
        {
            // Our storage, not the upstream, is out: the upstream's result is kept for a while, so come back for it at the
            // next poll rather than after the claim runs out, and do not count it against the upstream's error budget.
            outcome = "storage_unavailable";
            var retry = PollSchedule.NextDelay(age, _options);
            LogArchiveDeferred(logger, task.Id, StoreFaults.Reason(exception), retry.TotalSeconds);
            await store.SchedulePollAsync(task.Id, handle.UpstreamId, time.GetUtcNow() + retry, task.Progress, task.PollErrors,
                cancellationToken);
        }
        catch (UpstreamException failure)
        {
            LogPollFailed(logger, task.Id, handle.Engine, failure.Code, failure.Message);
            await FailAsync(task, new TaskFailure(failure.Code, failure.Message));
        }
        finally
        {
            // An unexpected exception (the archive failed) leaves "error": the claim runs out and the poll comes again.
            metrics.UpstreamPolled(handle.Engine, outcome);
            activity?.SetTag("kinema.outcome", outcome);
        }
    }

    /// <summary>
    /// An upstream that forgets its tasks on a restart lost this one: it goes back to be submitted again, as a render
    /// interrupted by a dead node does, and within the same budget of attempts. A task that keeps getting lost (a
    /// prompt that crashes the upstream each time it runs) is failed, saying so.
    /// </summary>
    private async Task ResubmitLostAsync(TaskRecord task, UpstreamException failure)
    {
        var handle = task.Upstream!;
        var maxAttempts = taskOptions.Value.MaxAttempts;
        if (task.Attempts >= maxAttempts)
        {
            LogPollFailed(logger, task.Id, handle.Engine, failure.Code, failure.Message);
            await FailAsync(task, new TaskFailure(failure.Code,
                $"{failure.Message}; the task was submitted {task.Attempts} times and lost each time, so it was given up"));
            return;
        }

        var reason = $"{handle.Engine}: lost prompt {handle.UpstreamId} ({failure.Message}), submitted again";
        var history = string.IsNullOrEmpty(task.EngineHistory) ? reason : task.EngineHistory + "; " + reason;
        if (await store.RequeueLostAsync(task.Id, handle.UpstreamId, history, CancellationToken.None))
        {
            LogResubmitting(logger, task.Id, handle.Engine, handle.UpstreamId, task.Attempts + 1, maxAttempts);
            queue.Notify();
        }
    }

    /// <summary>Fails a task waiting upstream; counted only when this call made the change.</summary>
    private async Task FailAsync(TaskRecord task, TaskFailure failure)
    {
        var handle = task.Upstream!;
        System.Diagnostics.Activity.Current.Fail(failure.Code);
        if (await store.FailAsync(task.Id, handle.UpstreamId, failure, CancellationToken.None))
        {
            RecordFailed(task, handle.Engine);
        }
    }

    private void RecordFailed(TaskRecord task, string engine)
    {
        metrics.TaskFailed(engine, task.Model);
        metrics.UpstreamFinished(engine, "failed", time.GetUtcNow() - (task.StartedAt ?? task.CreatedAt));
    }

    private async Task SweepOverdueAsync(CancellationToken cancellationToken)
    {
        var deadline = _options.Deadline;
        var limit = deadline.TotalHours >= 1 ? $"{deadline.TotalHours:0.#} h"
            : deadline.TotalMinutes >= 1 ? $"{deadline.TotalMinutes:0.#} min"
            : $"{deadline.TotalSeconds:0.#} s";
        var overdue = await store.FailOverdueAsync(time.GetUtcNow() - _options.Deadline,
            new TaskFailure("deadline_exceeded", $"the upstream did not finish the task within {limit}"), 500, cancellationToken);
        foreach (var task in overdue)
        {
            RecordFailed(task, task.Upstream?.Engine ?? task.Engine);
            LogOverdue(logger, task.Id);
            if (task.Upstream is { } handle && engines.Find(handle.Engine) is IUpstreamEngine engine)
            {
                try
                {
                    await engine.CancelAsync(handle, cancellationToken);
                }
                catch (UpstreamException)
                {
                    // Best effort: the task is failed here either way.
                }
            }
        }
    }

    public override void Dispose()
    {
        foreach (var semaphore in _perAccount.Values)
        {
            semaphore.Dispose();
        }

        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} completed upstream on {Engine} and archived")]
    private static partial void LogCompleted(ILogger logger, string taskId, string engine);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} ended or was deleted while its video was archived; the copy was removed")]
    private static partial void LogUnclaimedRemoved(ILogger logger, string taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} on {Engine}: poll failed ({Code}: {Reason}); retrying (error {Errors} in a row)")]
    private static partial void LogPollRetry(ILogger logger, string taskId, string engine, string code, string reason, int errors);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} on {Engine} failed: {Code}: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string taskId, string engine, string code, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Task {TaskId}: {Engine} lost upstream task {UpstreamId} (restarted?); submitting it again (attempt {Attempt} of {MaxAttempts})")]
    private static partial void LogResubmitting(ILogger logger, string taskId, string engine, string upstreamId, int attempt, int maxAttempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} passed its upstream deadline and was failed")]
    private static partial void LogOverdue(ILogger logger, string taskId);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Task {TaskId} finished upstream, but the result storage cannot take its video ({Reason}); trying again in {Seconds:0.#} s")]
    private static partial void LogArchiveDeferred(ILogger logger, string taskId, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Removed {Count} upstream videos kept for a storage outage that no poll on this node has come back for")]
    private static partial void LogStaleCopiesRemoved(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Polling task {TaskId} failed unexpectedly")]
    private static partial void LogPollFault(ILogger logger, string taskId, Exception exception);

}
