using System.Collections.Concurrent;

namespace Kinema.Core.Tasks;

/// <summary>
/// Publishes every committed change of a task to the <see cref="TaskChangeFeed"/>, and serves status polls from a
/// short-lived cache that those changes invalidate. A read only fills the cache when no change was published while it
/// ran, so the cache never holds a state older than one already committed on this node; changes made by other nodes
/// show after at most <see cref="CacheLifetime"/>.
/// </summary>
internal sealed class NotifyingTaskStore : ITaskStore
{
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(1);
    private const int MaxCached = 50_000;
    private readonly ConcurrentDictionary<string, (TaskRecord Task, long Until)> _cache = new(StringComparer.Ordinal);
    private readonly ITaskStore _inner;
    private readonly TaskChangeFeed _feed;
    private readonly TimeProvider _time;
    private long _changes;

    public NotifyingTaskStore(ITaskStore inner, TaskChangeFeed feed, TimeProvider time)
    {
        _inner = inner;
        _feed = feed;
        _time = time;
        // Every change, whichever store made it, drops the cached state first.
        _feed.Changed += Forget;
    }

    private void Forget(string taskId)
    {
        Interlocked.Increment(ref _changes);
        _cache.TryRemove(taskId, out _);
    }

    public async Task<CreateOutcome> CreateAsync(NewTask task, CancellationToken cancellationToken)
    {
        var outcome = await _inner.CreateAsync(task, cancellationToken);
        if (outcome is { Kind: CreateOutcomeKind.Created, Task: { } created })
        {
            Publish(created.Id);
        }

        return outcome;
    }

    public async Task<TaskRecord?> GetAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(taskId, out var cached) && cached.Until > now)
        {
            return cached.Task.TenantId == tenantId ? cached.Task : null;
        }

        var changesBefore = Interlocked.Read(ref _changes);
        var task = await _inner.GetAsync(tenantId, taskId, cancellationToken);
        if (task is not null && Interlocked.Read(ref _changes) == changesBefore)
        {
            if (_cache.Count >= MaxCached)
            {
                _cache.Clear();
            }

            _cache[taskId] = (task, now + (long)(CacheLifetime.TotalSeconds * _time.TimestampFrequency));
        }

        return task;
    }

    public async Task<TaskRecord?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        var task = await _inner.ClaimNextAsync(workerId, lease, cancellationToken);
        if (task is not null)
        {
            Publish(task.Id);
        }

        return task;
    }

    public Task<bool> HeartbeatAsync(string taskId, string workerId, int progress, TimeSpan lease, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, _inner.HeartbeatAsync(taskId, workerId, progress, lease, cancellationToken));

    public Task<bool> CompleteAsync(string taskId, string workerId, StoredResult result, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, _inner.CompleteAsync(taskId, workerId, result, cancellationToken), finished: true);

    public Task<bool> FailAsync(string taskId, string workerId, TaskFailure failure, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, _inner.FailAsync(taskId, workerId, failure, cancellationToken), finished: true);

    public Task<bool> ReleaseAsync(string taskId, string workerId, CancellationToken cancellationToken) =>
        PublishIfChanged(taskId, _inner.ReleaseAsync(taskId, workerId, cancellationToken));

    public async Task<CancelOutcome> CancelAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        var outcome = await _inner.CancelAsync(tenantId, taskId, cancellationToken);
        if (outcome.Cancelled)
        {
            _feed.PublishFinished(taskId);
        }

        return outcome;
    }

    public async Task<bool> DeleteAsync(string tenantId, string taskId, CancellationToken cancellationToken)
    {
        var deleted = await _inner.DeleteAsync(tenantId, taskId, cancellationToken);
        if (deleted)
        {
            // Watchers of the task hear of it (and find it gone); the cached state is dropped by the same event.
            Publish(taskId);
        }

        return deleted;
    }

    public Task<TaskPage> ListAsync(string tenantId, TaskQuery query, CancellationToken cancellationToken) =>
        _inner.ListAsync(tenantId, query, cancellationToken);

    public Task<int> CountPendingAsync(CancellationToken cancellationToken) =>
        _inner.CountPendingAsync(cancellationToken);

    public Task<int> RecoverOrphanedLeasesAsync(CancellationToken cancellationToken) =>
        _inner.RecoverOrphanedLeasesAsync(cancellationToken);

    public Task<IReadOnlyList<string>> FindEndedWithoutResultAsync(IReadOnlyList<string> taskIds, CancellationToken cancellationToken) =>
        _inner.FindEndedWithoutResultAsync(taskIds, cancellationToken);

    private async Task<bool> PublishIfChanged(string taskId, Task<bool> change, bool finished = false)
    {
        var changed = await change;
        if (changed && finished)
        {
            _feed.PublishFinished(taskId);
        }
        else if (changed)
        {
            Publish(taskId);
        }

        return changed;
    }

    private void Publish(string taskId) => _feed.Publish(taskId);
}
