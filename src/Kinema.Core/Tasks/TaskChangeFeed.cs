using System.Collections.Concurrent;

namespace Kinema.Core.Tasks;

/// <summary>
/// In-process notice that a task changed, so live watchers (SSE) re-read it at once instead of polling. It carries no
/// state: the store stays the one source of truth, and a watcher that misses a notice still sees the change on its
/// next periodic read.
/// </summary>
public sealed class TaskChangeFeed
{
    private readonly ConcurrentDictionary<string, Subscribers> _byTask = new(StringComparer.Ordinal);

    /// <summary>Raised for every change before watchers are woken (caches drop the task here).</summary>
    public event Action<string>? Changed;

    /// <summary>Raised when a task reached a terminal state (webhooks wake on this, not on every progress tick).</summary>
    public event Action<string>? Finished;

    /// <summary>Says that a task changed and has now ended.</summary>
    public void PublishFinished(string taskId)
    {
        Publish(taskId);
        Finished?.Invoke(taskId);
    }

    /// <summary>Says that a task changed.</summary>
    public void Publish(string taskId)
    {
        Changed?.Invoke(taskId);
        if (_byTask.TryGetValue(taskId, out var subscribers))
        {
            subscribers.Signal();
        }
    }

    /// <summary>Watches one task until the subscription is disposed.</summary>
    public TaskSubscription Subscribe(string taskId)
    {
        var subscription = new TaskSubscription(this, taskId);
        _byTask.AddOrUpdate(taskId, _ => new Subscribers(subscription), (_, existing) => existing.Add(subscription));
        return subscription;
    }

    internal void Unsubscribe(TaskSubscription subscription)
    {
        if (_byTask.TryGetValue(subscription.TaskId, out var subscribers) && subscribers.Remove(subscription))
        {
            _byTask.TryRemove(new KeyValuePair<string, Subscribers>(subscription.TaskId, subscribers));
        }
    }

    /// <summary>How many watchers are subscribed (diagnostics, benchmarks).</summary>
    public int SubscriberCount => _byTask.Values.Sum(s => s.Count);

    private sealed class Subscribers(TaskSubscription first)
    {
        private readonly List<TaskSubscription> _list = [first];

        public int Count
        {
            get
            {
                lock (_list)
                {
                    return _list.Count;
                }
            }
        }

        public Subscribers Add(TaskSubscription subscription)
        {
            lock (_list)
            {
                _list.Add(subscription);
            }

            return this;
        }

        /// <summary>Removes one; true when none are left.</summary>
        public bool Remove(TaskSubscription subscription)
        {
            lock (_list)
            {
                _list.Remove(subscription);
                return _list.Count == 0;
            }
        }

        public void Signal()
        {
            TaskSubscription[] snapshot;
            lock (_list)
            {
                snapshot = [.. _list];
            }

            foreach (var subscription in snapshot)
            {
                subscription.Signal();
            }
        }
    }
}

/// <summary>One watcher of one task.</summary>
public sealed class TaskSubscription : IDisposable
{
    private readonly TaskChangeFeed _feed;
    private readonly SemaphoreSlim _changed = new(0, 1);

    internal TaskSubscription(TaskChangeFeed feed, string taskId)
    {
        _feed = feed;
        TaskId = taskId;
    }

    /// <summary>The watched task.</summary>
    public string TaskId { get; }

    internal void Signal()
    {
        try
        {
            if (_changed.CurrentCount == 0)
            {
                _changed.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: one pending notice covers any number of changes.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Waits for a change or the timeout; true when notified.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _changed.WaitAsync(timeout, cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        _feed.Unsubscribe(this);
        _changed.Dispose();
    }
}
