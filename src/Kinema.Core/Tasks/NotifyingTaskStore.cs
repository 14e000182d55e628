namespace Kinema.Core.Tasks;

/// <summary>Publishes every committed change of a task to the <see cref="TaskChangeFeed"/>.</summary>
internal sealed class NotifyingTaskStore(ITaskStore inner, TaskChangeFeed feed) : ITaskStore
{
    public async Task<CreateOutcome> CreateAsync(NewTask task, CancellationToken cancellationToken)
    {
        var outcome = await inner.CreateAsync(task, cancellationToken);
        if (outcome is { Kind: CreateOutcomeKind.Created, Task: { } created })
        {
            feed.Publish(created.Id);
        }

        return outcome;
    }

    public Task<TaskRecord?> GetAsync(string tenantId, string taskId, CancellationToken cancellationToken) =>
        inner.GetAsync(tenantId, taskId, cancellationToken);

    public async Task<TaskRecord?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        var task = await inner.ClaimNextAsync(workerId, lease, cancellationToken);
        if (task is not null)
        {
            feed.Publish(task.Id);
        }

        return task;
    }

    public Task<bool> HeartbeatAsync(string taskId, string workerId, int progress, TimeSpan lease, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, inner.HeartbeatAsync(taskId, workerId, progress, lease, cancellationToken));

    public Task<bool> CompleteAsync(string taskId, string workerId, StoredResult result, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, inner.CompleteAsync(taskId, workerId, result, cancellationToken));

    public Task<bool> FailAsync(string taskId, string workerId, TaskFailure failure, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, inner.FailAsync(taskId, workerId, failure, cancellationToken));

    public Task<bool> ReleaseAsync(string taskId, string workerId, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, inner.ReleaseAsync(taskId, workerId, cancellationToken));

    public async Task<CancelOutcome> CancelAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        var outcome = await inner.CancelAsync(tenantId, taskId, cancellationToken);
        if (outcome.Cancelled)
        {
            feed.Publish(taskId);
        }

        return outcome;
    }

    public Task<TaskPage> ListAsync(string tenantId, TaskQuery query, CancellationToken cancellationToken) =>
        inner.ListAsync(tenantId, query, cancellationToken);

    public Task<int> RecoverOrphanedLeasesAsync(CancellationToken cancellationToken) =>
        inner.RecoverOrphanedLeasesAsync(cancellationToken);

    private async Task<bool> PublishIfChanged(string taskId, Task<bool> change)
    {
        var changed = await change;
        if (changed)
        {
            feed.Publish(taskId);
        }

        return changed;
    }
}
