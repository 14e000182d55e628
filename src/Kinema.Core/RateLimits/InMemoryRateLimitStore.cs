using System.Collections.Concurrent;

namespace Kinema.Core.RateLimits;

/// <summary>
/// Windows in this process's memory: the store for SQLite, whose file one process serves. A restart starts every
/// window empty, as it always has. One small entry per key that has made a request: only keys the store knows get
/// this far, so the map is bounded by the keys there are.
/// </summary>
internal sealed class InMemoryRateLimitStore(TimeProvider time) : IRateLimitStore
{
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    public Task<RateGrant> TakeAsync(string keyId, int limit, int want, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var window = _windows.GetOrAdd(keyId, static _ => new Window());
        lock (window)
        {
            (window.Segment, window.Counts, var grant) = RateWindow.Take(window.Segment, window.Counts, time.GetUtcNow(), limit, want);
            return Task.FromResult(grant);
        }
    }

    private sealed class Window
    {
        public long Segment { get; set; }
        public int[] Counts { get; set; } = RateWindow.Empty();
    }
}
