namespace Kinema.Core.Tasks;

/// <summary>The durable home of every task. Every state change is fenced by the worker's lease.</summary>
public interface ITaskStore
{
    /// <summary>Writes a task (durably, before returning), honouring the Idempotency-Key.</summary>
    Task<CreateOutcome> CreateAsync(NewTask task, CancellationToken cancellationToken);

    /// <summary>A tenant's task, or null when it does not exist or belongs to another tenant.</summary>
    Task<TaskRecord?> GetAsync(string tenantId, string taskId, CancellationToken cancellationToken);

    /// <summary>Takes the oldest runnable task (pending, or processing with an expired lease) under a lease.</summary>
    Task<TaskRecord?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends the lease and records progress; false when the worker no longer holds the lease.</summary>
    Task<bool> HeartbeatAsync(string taskId, string workerId, int progress, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Marks the task completed; false (and no change) when the worker no longer holds the lease.</summary>
    Task<bool> CompleteAsync(string taskId, string workerId, StoredResult result, CancellationToken cancellationToken);

    /// <summary>Marks the task failed; false when the worker no longer holds the lease.</summary>
    Task<bool> FailAsync(string taskId, string workerId, TaskFailure failure, CancellationToken cancellationToken);

    /// <summary>Gives the task back to the queue (shutdown, transient failure); false when the lease was lost.</summary>
    Task<bool> ReleaseAsync(string taskId, string workerId, CancellationToken cancellationToken);

    /// <summary>Cancels a tenant's task unless it already ended; a running task's worker loses its lease and stops.</summary>
    Task<CancelOutcome> CancelAsync(string tenantId, string taskId, CancellationToken cancellationToken);

    /// <summary>A page of a tenant's tasks, newest first, after an optional cursor.</summary>
    Task<TaskPage> ListAsync(string tenantId, TaskQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Removes a tenant's task row and its webhook deliveries, sent or not, in one transaction (its result files are the
    /// caller's to remove from result storage); true when it existed. Nothing is announced about a task once it is
    /// deleted. Cancel a running task first: a worker still holding the lease loses it and its completion is refused.
    /// </summary>
    Task<bool> DeleteAsync(string tenantId, string taskId, CancellationToken cancellationToken);

    /// <summary>How many tasks wait for a worker (status pending); the queue-depth gauge samples it every few seconds.</summary>
    Task<int> CountPendingAsync(CancellationToken cancellationToken);

    /// <summary>Releases every lease at start-up of a single-node store, whose previous process is known dead.</summary>
    Task<int> RecoverOrphanedLeasesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Of <paramref name="taskIds"/>, of any tenant, those whose task failed or was cancelled: housekeeping asks which
    /// stored files nothing links to. Ids the store does not hold are not returned (their files may be another
    /// deployment's), nor those of tasks still going or completed.
    /// </summary>
    Task<IReadOnlyList<string>> FindEndedWithoutResultAsync(IReadOnlyList<string> taskIds, CancellationToken cancellationToken);
}
