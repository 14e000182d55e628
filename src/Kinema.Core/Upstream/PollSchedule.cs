namespace Kinema.Core.Upstream;

/// <summary>
/// When to poll an upstream task next: often while it is young (most finish in minutes), backing off as it ages, and
/// never sooner than the upstream asked (<c>Retry-After</c>).
/// </summary>
public static class PollSchedule
{
    /// <summary>The delay before the next poll of a task submitted <paramref name="age"/> ago.</summary>
    public static TimeSpan NextDelay(TimeSpan age, UpstreamOptions options, TimeSpan? retryAfter = null, int transientErrors = 0)
    {
        ArgumentNullException.ThrowIfNull(options);
        var baseDelay = age < TimeSpan.FromMinutes(2) ? options.FirstPoll
            : age < TimeSpan.FromMinutes(10) ? options.FirstPoll * 2
            : options.FirstPoll * 4;
        if (transientErrors > 0)
        {
            baseDelay *= Math.Pow(2, Math.Min(transientErrors, 6));
        }

        var delay = TimeSpan.FromTicks(Math.Min(baseDelay.Ticks, options.MaxPollInterval.Ticks));
        return retryAfter is { } asked && asked > delay ? asked : delay;
    }
}
