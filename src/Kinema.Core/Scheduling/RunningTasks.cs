using System.Collections.Concurrent;

namespace Kinema.Core.Scheduling;

/// <summary>
/// The renders running on this node, so a cancel stops one at once rather than at its next heartbeat (which still
/// catches cancels made through another node).
/// </summary>
public sealed class RunningTasks
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);

    internal void Add(string taskId, CancellationTokenSource cancellation) => _running[taskId] = cancellation;

    internal void Remove(string taskId) => _running.TryRemove(taskId, out _);

    /// <summary>Stops the task's render if it runs here; true when it did.</summary>
    public bool TryStop(string taskId)
    {
        if (!_running.TryGetValue(taskId, out var cancellation))
        {
            return false;
        }

        try
        {
            cancellation.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }
}
