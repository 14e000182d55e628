using Kinema.Core.Engines;

namespace Kinema.Core.Tasks;

/// <summary>
/// The life of a task handed to a remote service. Before submission, changes are fenced by the submitting worker's
/// lease; after it, by the upstream id, so a late poll of a superseded submission can never complete the task.
/// </summary>
public interface IUpstreamTaskStore
{
    /// <summary>Persists "about to submit to this engine" before anything is sent.</summary>
    Task<bool> RecordIntentAsync(string taskId, string workerId, string engine, string account, CancellationToken cancellationToken);

    /// <summary>Records the upstream's id; the task leaves the worker and waits for its first poll.</summary>
    Task<bool> RecordSubmittedAsync(string taskId, string workerId, UpstreamHandle handle, DateTimeOffset firstPollAt, CancellationToken cancellationToken);

    /// <summary>Moves the task to the next engine after one refused it at submit, keeping a record of why.</summary>
    Task<bool> RecordFailoverAsync(string taskId, string workerId, string nextEngine, string history, CancellationToken cancellationToken);

    /// <summary>Takes up to <paramref name="max"/> due polls, pushing their next poll out by <paramref name="claimFor"/> so no other poller takes them meanwhile.</summary>
    Task<IReadOnlyList<TaskRecord>> ClaimDuePollsAsync(int max, TimeSpan claimFor, CancellationToken cancellationToken);

    /// <summary>Sets the next poll and the progress seen.</summary>
    Task<bool> SchedulePollAsync(string taskId, string upstreamId, DateTimeOffset at, int progress, int pollErrors, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the task's poll due before every other (a callback arrived: its poll jumps the queue of scheduled ones);
    /// false when it is not waiting upstream.
    /// </summary>
    Task<bool> PollNowAsync(string taskId, CancellationToken cancellationToken);

    /// <summary>Completes the task with its archived result.</summary>
    Task<bool> CompleteAsync(string taskId, string upstreamId, StoredResult result, CancellationToken cancellationToken);

    /// <summary>
    /// Records progress an upstream reported between polls (ComfyUI's socket), so every node's status and event stream
    /// shows it at once; progress never goes down. False when it is no higher, or the task moved on.
    /// </summary>
    Task<bool> RecordProgressAsync(string taskId, string upstreamId, int progress, CancellationToken cancellationToken);

    /// <summary>
    /// Sends back a task whose upstream lost it, to be submitted again by the next free worker on any node. The upstream
    /// id is cleared, so a late poll of the lost submission changes nothing; the intent is kept, so the next submission
    /// first asks the upstream whether the task is there after all. False when the task moved on meanwhile.
    /// </summary>
    Task<bool> RequeueLostAsync(string taskId, string upstreamId, string history, CancellationToken cancellationToken);

    /// <summary>Fails the task.</summary>
    Task<bool> FailAsync(string taskId, string upstreamId, TaskFailure failure, CancellationToken cancellationToken);

    /// <summary>Fails tasks still waiting upstream that started before <paramref name="startedBefore"/>; returns them.</summary>
    Task<IReadOnlyList<TaskRecord>> FailOverdueAsync(DateTimeOffset startedBefore, TaskFailure failure, int max, CancellationToken cancellationToken);

    /// <summary>A task by id whatever its tenant (callbacks name no tenant), or null.</summary>
    Task<TaskRecord?> FindAsync(string taskId, CancellationToken cancellationToken);

    /// <summary>How many tasks wait upstream (diagnostics, benchmarks).</summary>
    Task<int> CountWaitingAsync(CancellationToken cancellationToken);
}
