using Kinema.Core.Storage;
using Kinema.Core.Tasks;

namespace Kinema.Server.Endpoints;

/// <summary>
/// Deletes a tenant's task and its files, whichever door the request came in by (the contract's <c>DELETE
/// /v1/tasks/{id}</c>, the OpenAI façade's <c>DELETE /v1/videos/{id}</c>). A task that has not ended is cancelled first,
/// so its render stops and its upstream is told (and its credits refunded by the cancel's rules) before it goes.
/// </summary>
internal sealed class TaskDeleter(ITaskStore store, TaskCanceller canceller, IResultStorage storage)
{
    /// <summary>False when the tenant has no such task (never another tenant's: that is "no such task" too).</summary>
    public async Task<bool> DeleteAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        if (!TaskIds.IsWellFormed(taskId) || await store.GetAsync(tenantId, taskId, cancellationToken) is not { } task)
        {
            return false;
        }

        if (!task.State.IsTerminal())
        {
            await canceller.CancelAsync(tenantId, task.Id, cancellationToken);
        }

        // Files first: should the row's delete then fail, a retried DELETE finds the task and finishes the job.
        await storage.DeleteAsync(task.Id, cancellationToken);
        return await store.DeleteAsync(tenantId, task.Id, cancellationToken);
    }
}
