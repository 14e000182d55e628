using System.Globalization;
using Kinema.Core.Diagnostics;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Scheduling;

/// <summary>
/// The worker pool: each worker claims the oldest runnable task under a lease, hands it to its engine, keeps the
/// lease alive while the engine works, stores the result and completes the task. A worker that dies leaves a
/// lease that runs out; another worker then takes the task again. Completion is fenced by the lease, so a
/// task is never completed twice.
/// </summary>
internal sealed partial class TaskScheduler(
    ITaskStore store,
    EngineRegistry engines,
    Upstream.UpstreamSubmitter submitter,
    IResultStorage storage,
    IImageSource images,
    TaskQueueSignal signal,
    RunningTasks running,
    KinemaPaths paths,
    IOptions<SchedulerOptions> options,
    KinemaMetrics metrics,
    TimeProvider time,
    ILogger<TaskScheduler> logger) : BackgroundService
{
    private readonly SchedulerOptions _options = options.Value;
    private readonly string _node = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}"[..^24];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        var recovered = await store.RecoverOrphanedLeasesAsync(stoppingToken);
        if (recovered > 0)
        {
            LogRecovered(logger, recovered);
        }

        var workers = Enumerable.Range(0, _options.Workers)
            .Select(index => Task.Run(() => RunWorkerAsync($"{_node}/w{index}", stoppingToken), CancellationToken.None));
        await Task.WhenAll(workers);
    }

    private async Task RunWorkerAsync(string workerId, CancellationToken stoppingToken)
    {
        var outage = new StoreOutageLog(logger, $"Worker {workerId}", time);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var task = await store.ClaimNextAsync(workerId, _options.LeaseDuration, stoppingToken);
                outage.Succeeded();
                if (task is null)
                {
                    await signal.WaitAsync(_options.PollInterval, stoppingToken);
                    continue;
                }

                await RunTaskAsync(task, workerId, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The store itself failed (server gone, disk full, locked file): back off rather than spin.
                outage.Failed(exception);
                await Task.Delay(_options.PollInterval, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task RunTaskAsync(TaskRecord task, string workerId, CancellationToken stoppingToken)
    {
        var found = engines.Find(task.Engine);
        if (found is IUpstreamEngine)
        {
            // Remote engines hold a worker only while submitting; the poller follows the task from there.
            try
            {
                await submitter.SubmitAsync(task, workerId, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                await store.ReleaseAsync(task.Id, workerId, CancellationToken.None);
            }

            return;
        }

        if (found is not IVideoEngine engine)
        {
            await FailAsync(task, workerId, new TaskFailure(
                "engine_unavailable", $"the engine '{task.Engine}' this task is pinned to is not configured on this server"));
            return;
        }

        var workDirectory = Path.Combine(paths.Work, task.Id, $"attempt-{task.Attempts}");
        if (Directory.Exists(workDirectory))
        {
            Directory.Delete(workDirectory, recursive: true);
        }

        Directory.CreateDirectory(workDirectory);
        using var leaseLost = new CancellationTokenSource();
        using var renderCancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, leaseLost.Token);
        await using var heartbeat = new LeaseHeartbeat(store, task.Id, workerId, _options, leaseLost, logger);
        // A cancel on this node stops the render at once through the same token as a lost lease.
        running.Add(task.Id, leaseLost);
        var started = TimeProvider.System.GetTimestamp();
        using var activity = KinemaActivities.StartTaskActivity("render", task.Id, engine.Name);
        activity?.SetTag("kinema.mode", task.Request.Mode);
        activity?.SetTag("kinema.attempt", task.Attempts);
        LogStarted(logger, task.Id, engine.Name, task.Attempts);
        // Once the video is in storage, a failure that follows (a poster the storage would not take) leaves files
        // that nothing links to: they go with the failed task.
        var savingResults = false;
        try
        {
            var job = new EngineJob(task.Id, task.Request, workDirectory, images, heartbeat);
            var video = await engine.RenderAsync(job, renderCancellation.Token);
            savingResults = true;
            var result = await StoreResultAsync(task.Id, video, renderCancellation.Token);
            await heartbeat.StopAsync();
            if (await store.CompleteAsync(task.Id, workerId, result, CancellationToken.None))
            {
                var elapsed = TimeProvider.System.GetElapsedTime(started);
                metrics.TaskCompleted(engine.Name, task.Model);
                metrics.RenderFinished(engine.Name, task.Request.Mode, elapsed);
                LogCompleted(logger, task.Id, elapsed);
            }
            else
            {
                activity.Fail("lease_lost");
                LogLeaseLost(logger, task.Id, workerId);
                await RemoveUnclaimedResultsAsync(task);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await heartbeat.StopAsync();
            // Shutting down: give the task back so the next start resumes it at once.
            await store.ReleaseAsync(task.Id, workerId, CancellationToken.None);
            LogReleased(logger, task.Id);
        }
        catch (OperationCanceledException) when (leaseLost.IsCancellationRequested)
        {
            // Cancelled by the client, or the lease went to another worker: either way this attempt's work is void.
            activity.Fail("lease_lost");
            LogLeaseLost(logger, task.Id, workerId);
            await RemoveUnclaimedResultsAsync(task);
        }
        catch (EngineFailureException failure)
        {
            await heartbeat.StopAsync();
            LogFailed(logger, task.Id, engine.Name, failure.Code, failure.Message);
            activity.Fail(failure.Code);
            await FailAsync(task, workerId, new TaskFailure(failure.Code, failure.Message));
            if (savingResults)
            {
                await RemoveUnclaimedResultsAsync(task);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            await heartbeat.StopAsync();
            LogCrashed(logger, task.Id, exception);
            activity.Fail("internal_error");
            await FailAsync(task, workerId, new TaskFailure(
                "internal_error", $"the {engine.Name} engine failed unexpectedly; the server log has the details for task {task.Id}"));
            if (savingResults)
            {
                await RemoveUnclaimedResultsAsync(task);
            }
        }
        finally
        {
            running.Remove(task.Id);
            TryDelete(Path.Combine(paths.Work, task.Id));
        }
    }

    /// <summary>
    /// This attempt may have saved files before its completion was refused (the task was cancelled or deleted
    /// meanwhile): they go, unless another attempt owns the task. A leftover file is no reason to fail anything.
    /// </summary>
    private async Task RemoveUnclaimedResultsAsync(TaskRecord task)
    {
        try
        {
            if (await UnclaimedResults.RemoveAsync(storage, task.Id, await store.GetAsync(task.TenantId, task.Id, CancellationToken.None),
                    CancellationToken.None))
            {
                LogUnclaimedRemoved(logger, task.Id);
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            var reason = exception.Message;
            LogUnclaimedNotRemoved(logger, task.Id, reason);
        }
    }

    private async Task FailAsync(TaskRecord task, string workerId, TaskFailure failure)
    {
        if (await store.FailAsync(task.Id, workerId, failure, CancellationToken.None))
        {
            metrics.TaskFailed(task.Engine, task.Model);
        }
    }

    /// <summary>
    /// A finished render is not thrown away, nor its task failed, because the result storage is out of reach for a while:
    /// the save is tried again, backing off to <see cref="MaxSaveRetryDelay"/>, while the heartbeat keeps the lease. It
    /// ends when the storage takes the file; when the task is cancelled, its lease lost or the node stopped (the token);
    /// or, after <see cref="SchedulerOptions.ResultSaveTimeout"/>, by failing the task, so an outage that outlasts it
    /// neither holds the worker nor leaves the client polling forever.
    /// </summary>
    private async Task<StoredFile> SaveAsync(string taskId, string name, string path, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        var firstRefusal = (long?)null;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await storage.SaveAsync(taskId, name, path, cancellationToken);
            }
            catch (ResultStorageUnavailableException exception)
            {
                var reason = exception.Message;
                firstRefusal ??= time.GetTimestamp();
                var waited = time.GetElapsedTime(firstRefusal.Value);
                if (waited + delay > _options.ResultSaveTimeout)
                {
                    LogSaveGivenUp(logger, taskId, name, attempt, reason);
                    throw new EngineFailureException("storage_unavailable",
                        $"the video was made, but the result storage could not take it for {FormatLimit(_options.ResultSaveTimeout)} " +
                        $"({attempt} attempts; last: {reason})", retryable: false);
                }

                LogSaveRetried(logger, taskId, name, attempt, delay.TotalSeconds, reason);
                await Task.Delay(delay, time, cancellationToken);
                delay = delay * 2 < MaxSaveRetryDelay ? delay * 2 : MaxSaveRetryDelay;
            }
        }
    }

    private static string FormatLimit(TimeSpan limit) =>
        limit.TotalMinutes >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{limit.TotalMinutes:0.#} min")
            : string.Create(CultureInfo.InvariantCulture, $"{limit.TotalSeconds:0.#} s");

    private static readonly TimeSpan MaxSaveRetryDelay = TimeSpan.FromSeconds(30);

    private async Task<StoredResult> StoreResultAsync(string taskId, RenderedVideo video, CancellationToken cancellationToken)
    {
        var videoFile = await SaveAsync(taskId, "video.mp4", video.VideoPath, cancellationToken);
        string? posterName = null;
        if (video.PosterPath is not null && File.Exists(video.PosterPath))
        {
            posterName = (await SaveAsync(taskId, "poster.jpg", video.PosterPath, cancellationToken)).Name;
        }

        return new StoredResult
        {
            VideoName = videoFile.Name,
            PosterName = posterName,
            Width = video.Width,
            Height = video.Height,
            DurationSeconds = video.DurationSeconds,
            HasAudio = video.HasAudio,
        };
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // A leftover scratch directory is harmless; the next attempt starts from a clean one.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Task {TaskId}: {Name} could not be saved (attempt {Attempt}); trying again in {Seconds} s: {Reason}")]
    private static partial void LogSaveRetried(ILogger logger, string taskId, string name, int attempt, double seconds, string reason);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Task {TaskId}: {Name} could not be saved in {Attempt} attempts over the result save timeout; the task fails: {Reason}")]
    private static partial void LogSaveGivenUp(ILogger logger, string taskId, string name, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recovered {Count} tasks left running by a previous process")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} started on {Engine} (attempt {Attempt})")]
    private static partial void LogStarted(ILogger logger, string taskId, string engine, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} completed in {Elapsed}")]
    private static partial void LogCompleted(ILogger logger, string taskId, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} on {Engine} failed: {Code}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string taskId, string engine, string code, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {TaskId} failed unexpectedly")]
    private static partial void LogCrashed(ILogger logger, string taskId, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: worker {WorkerId} stopped: the task was cancelled or its lease passed to another worker")]
    private static partial void LogLeaseLost(ILogger logger, string taskId, string workerId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} ended or was deleted while its video was saved; the files saved for it were removed")]
    private static partial void LogUnclaimedRemoved(ILogger logger, string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: removing the files saved after it ended failed ({Reason}); they are left behind")]
    private static partial void LogUnclaimedNotRemoved(ILogger logger, string taskId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} given back to the queue at shutdown")]
    private static partial void LogReleased(ILogger logger, string taskId);

}
