using System.ComponentModel.DataAnnotations;

namespace Kinema.Core.Scheduling;

/// <summary>How tasks are handed to engines (<c>Kinema:Scheduler</c>).</summary>
public sealed class SchedulerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Scheduler";

    /// <summary>Whether this node runs tasks at all (false: an API-only node, or a benchmark of the API alone).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Tasks made at once on this node.</summary>
    [Range(1, 256)]
    public int Workers { get; set; } = 2;

    /// <summary>How long a claim lasts without a heartbeat before another worker may take the task.</summary>
    [Range(typeof(TimeSpan), "00:00:02", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a running task renews its lease.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most often progress is written while rendering.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often an idle worker looks for work it was not told about (other nodes, expired leases).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a finished render waits for the result storage to take its video before the task fails
    /// (<c>storage_unavailable</c>, credits refunded). Until then the save is retried and the task stays processing.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ResultSaveTimeout { get; set; } = TimeSpan.FromMinutes(30);
}
