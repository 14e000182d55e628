using Kinema.Core.Engines;
using Kinema.Core.Scheduling;
using Kinema.Core.Tasks;

namespace Kinema.Server.Endpoints;

/// <summary>
/// Cancels a tenant's task everywhere it may be running: in the store (a pending task never runs, a worker loses its
/// lease), on this node's render at once, and at the upstream that holds it. The cancel endpoint and the OpenAI façade's
/// delete share it.
/// </summary>
internal sealed partial class TaskCanceller(
    ITaskStore store,
    RunningTasks running,
    EngineRegistry engines,
    Core.Diagnostics.KinemaMetrics metrics,
    ILogger<TaskCanceller> logger)
{
    public async Task<CancelOutcome> CancelAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        var outcome = await store.CancelAsync(tenantId, taskId, cancellationToken);
        if (outcome is not { Cancelled: true, Task: { } task })
        {
            return outcome;
        }

        metrics.TaskCancelled(task.Upstream?.Engine ?? task.Engine, task.Model);
        running.TryStop(taskId);
        if (task.Upstream is { } handle && engines.Find(handle.Engine) is IUpstreamEngine upstream)
        {
            try
            {
                await upstream.CancelAsync(handle, cancellationToken);
            }
            catch (UpstreamException exception)
            {
                // Cancelled here either way; the upstream may still finish (and bill) it, which the log records.
                LogUpstreamCancelFailed(logger, taskId, exception);
            }
        }

        return outcome;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Upstream cancel of {TaskId} failed")]
    private static partial void LogUpstreamCancelFailed(ILogger logger, string taskId, Exception exception);
}
