using Kinema.Core.Tasks;
using Microsoft.Extensions.Logging;

namespace Kinema.Core.Scheduling;

/// <summary>
/// Keeps a claimed task's lease alive and writes its progress, at most every progress interval and at least every
/// heartbeat interval. When the store says the lease is gone, it cancels the render.
/// </summary>
internal sealed partial class LeaseHeartbeat : IProgress<int>, IAsyncDisposable
{
    private readonly ITaskStore _store;
    private readonly string _taskId;
    private readonly string _workerId;
    private readonly SchedulerOptions _options;
    private readonly CancellationTokenSource _leaseLost;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _changed = new(0, 1);
    private readonly Task _loop;
    private int _progress;
    private int _written = -1;

    public LeaseHeartbeat(
        ITaskStore store, string taskId, string workerId, SchedulerOptions options, CancellationTokenSource leaseLost, ILogger logger)
    {
        _store = store;
        _taskId = taskId;
        _workerId = workerId;
        _options = options;
        _leaseLost = leaseLost;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    public void Report(int value)
    {
        var clamped = Math.Clamp(value, 0, 99);
        int current;
        do
        {
            current = Volatile.Read(ref _progress);
            if (clamped <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _progress, clamped, current) != current);

        if (_changed.CurrentCount == 0)
        {
            try
            {
                _changed.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled.
            }
        }
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var lastWrite = TimeProvider.System.GetTimestamp();
        try
        {
            while (!token.IsCancellationRequested)
            {
                await _changed.WaitAsync(_options.HeartbeatInterval, token);
                var sinceWrite = TimeProvider.System.GetElapsedTime(lastWrite);
                if (sinceWrite < _options.ProgressInterval)
                {
                    await Task.Delay(_options.ProgressInterval - sinceWrite, token);
                }

                var progress = Volatile.Read(ref _progress);
                if (progress == _written && TimeProvider.System.GetElapsedTime(lastWrite) < _options.HeartbeatInterval)
                {
                    continue;
                }

                bool held;
                try
                {
                    held = await _store.HeartbeatAsync(_taskId, _workerId, progress, _options.LeaseDuration, token);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    // A missed heartbeat is not fatal: the lease has room for several.
                    LogHeartbeatFailed(_logger, _taskId, exception);
                    continue;
                }

                lastWrite = TimeProvider.System.GetTimestamp();
                _written = progress;
                if (!held)
                {
                    await _leaseLost.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopped: the task finished or is being given back.
        }
    }

    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _changed.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: heartbeat failed")]
    private static partial void LogHeartbeatFailed(ILogger logger, string taskId, Exception exception);
}
