namespace Kinema.Core.RateLimits;

/// <summary>What a take from a key's window gave.</summary>
/// <param name="Granted">Permits granted, from 0 to the number asked for.</param>
/// <param name="RetryAfter">When nothing was granted, how long until the window frees a permit; otherwise zero.</param>
public sealed record RateGrant(int Granted, TimeSpan RetryAfter);

/// <summary>
/// A key's requests counted in a sliding minute: six ten-second segments, so a burst at a minute's edge cannot double
/// the rate (the same shape as ASP.NET Core's sliding-window limiter, which Kinema used before limits were shared).
/// The counts are plain data, kept by whichever store holds them: one process's memory, or a row every node locks.
/// </summary>
public static class RateWindow
{
    /// <summary>Segments in a window.</summary>
    public const int Segments = 6;

    /// <summary>The length of one segment.</summary>
    public static readonly TimeSpan SegmentLength = TimeSpan.FromSeconds(10);

    /// <summary>The window: a minute.</summary>
    public static TimeSpan Length => SegmentLength * Segments;

    /// <summary>The segment <paramref name="now"/> falls in, counted from the Unix epoch.</summary>
    public static long SegmentAt(DateTimeOffset now) => now.ToUnixTimeMilliseconds() / (long)SegmentLength.TotalMilliseconds;

    /// <summary>An empty window.</summary>
    public static int[] Empty() => new int[Segments];

    /// <summary>
    /// Takes up to <paramref name="want"/> permits from a window whose counts (oldest first, the last one being
    /// <paramref name="segment"/>) were last written at <paramref name="segment"/>. Returns the window as it must be
    /// stored now and what was granted: never so much that the segments in one window hold more than
    /// <paramref name="limit"/>.
    /// </summary>
    public static (long Segment, int[] Counts, RateGrant Grant) Take(long segment, int[] counts, DateTimeOffset now, int limit, int want)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(want, 1);
        if (counts.Length != Segments)
        {
            throw new ArgumentException($"a window has {Segments} segments, not {counts.Length}", nameof(counts));
        }

        // A node whose clock runs behind the one that last wrote the window counts into the newest segment written.
        var current = Math.Max(SegmentAt(now), segment);
        var shifted = Shift(segment, counts, current);
        var used = 0L;
        foreach (var count in shifted)
        {
            used += count;
        }

        var granted = (int)Math.Clamp(limit - used, 0, want);
        shifted[Segments - 1] += granted;
        var retryAfter = granted > 0 ? TimeSpan.Zero : UntilOldestLeaves(shifted, current, now);
        return (current, shifted, new RateGrant(granted, retryAfter));
    }

    private static int[] Shift(long segment, int[] counts, long current)
    {
        var shifted = Empty();
        var by = current - segment;
        for (var i = 0; i < Segments; i++)
        {
            var from = i + by;
            if (from < Segments)
            {
                shifted[i] = counts[from];
            }
        }

        return shifted;
    }

    /// <summary>The wait until the oldest segment that holds a permit leaves the window.</summary>
    private static TimeSpan UntilOldestLeaves(int[] counts, long current, DateTimeOffset now)
    {
        var oldest = Array.FindIndex(counts, count => count > 0);
        // Segment i is current - (Segments - 1 - i); it leaves the window when segment current + i + 1 begins.
        var leavesAt = (current + (oldest < 0 ? 0 : oldest) + 1) * (long)SegmentLength.TotalMilliseconds;
        var wait = TimeSpan.FromMilliseconds(leavesAt - now.ToUnixTimeMilliseconds());
        return wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1);
    }
}
