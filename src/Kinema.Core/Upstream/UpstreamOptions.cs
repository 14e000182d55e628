using System.ComponentModel.DataAnnotations;

namespace Kinema.Core.Upstream;

/// <summary>How tasks handed to remote services are followed (<c>Kinema:Upstream</c>).</summary>
public sealed class UpstreamOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Upstream";

    /// <summary>A task not finished upstream by then is failed by the sweeper.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan Deadline { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How often the sweeper looks for tasks past their deadline.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first poll after submitting.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan FirstPoll { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest gap between polls of an old task.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Polls made at once by this node.</summary>
    [Range(1, 4096)]
    public int MaxConcurrentPolls { get; set; } = 64;

    /// <summary>Polls made at once against one upstream account.</summary>
    [Range(1, 4096)]
    public int MaxConcurrentPollsPerAccount { get; set; } = 64;

    /// <summary>
    /// Results checked with ffprobe at once by this node. Polls are I/O and run many at once; the check is CPU, so it is
    /// capped at the node's cores unless set.
    /// </summary>
    [Range(1, 256)]
    public int MaxConcurrentProbes { get; set; } = Math.Clamp(Environment.ProcessorCount, 1, 256);

    /// <summary>Consecutive transient poll failures before the task is failed.</summary>
    [Range(1, 1000)]
    public int TransientErrorBudget { get; set; } = 20;

    /// <summary>Submission attempts on one engine for transient faults before failing over.</summary>
    [Range(1, 10)]
    public int SubmitAttempts { get; set; } = 2;

    /// <summary>The base URL upstreams reach this server at for callbacks; none means no callbacks, polling only.</summary>
    public string? CallbackBaseUrl { get; set; }
}
