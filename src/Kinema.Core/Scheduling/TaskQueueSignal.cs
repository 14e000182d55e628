namespace Kinema.Core.Scheduling;

/// <summary>Wakes an idle worker the moment a task is queued, so a submit never waits for the poll interval.</summary>
public sealed class TaskQueueSignal : IDisposable
{
    private readonly SemaphoreSlim _available = new(0, int.MaxValue);

    /// <summary>Says that one more task is runnable.</summary>
    public void Notify()
    {
        // Capped so a burst of submits does not leave thousands of stale wake-ups behind.
        if (_available.CurrentCount < 64)
        {
            _available.Release();
        }
    }

    /// <summary>Waits for a notification or the timeout.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _available.WaitAsync(timeout, cancellationToken);

    /// <inheritdoc />
    public void Dispose() => _available.Dispose();
}
