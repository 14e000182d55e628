using System.ComponentModel.DataAnnotations;

namespace Kinema.Core.Webhooks;

/// <summary>How webhooks are delivered (<c>Kinema:Webhooks</c>).</summary>
public sealed class WebhookOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Webhooks";

    /// <summary>
    /// The waits before each retry: the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about a
    /// day), each with ±20 % jitter. A delivery that fails them all is given up.
    /// </summary>
    public List<TimeSpan> RetryDelays { get; } = [];

    /// <summary>The schedule used when none is configured.</summary>
    public static IReadOnlyList<TimeSpan> DefaultRetryDelays { get; } =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>Time limit of one delivery attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The most standing endpoints a tenant may have: every event is sent to each, so without a cap one tenant could make
    /// a single task's end cost thousands of deliveries.
    /// </summary>
    [Range(1, 1000)]
    public int MaxEndpointsPerTenant { get; set; } = 20;

    /// <summary>Deliveries made at once.</summary>
    [Range(1, 1024)]
    public int MaxConcurrentDeliveries { get; set; } = 16;

    /// <summary>The effective schedule.</summary>
    public IReadOnlyList<TimeSpan> Schedule => RetryDelays.Count > 0 ? RetryDelays : DefaultRetryDelays;
}

/// <summary>The event types Kinema sends.</summary>
public static class WebhookEvents
{
    /// <summary>A task completed.</summary>
    public const string Completed = "task.completed";
    /// <summary>A task failed.</summary>
    public const string Failed = "task.failed";
    /// <summary>A task was cancelled.</summary>
    public const string Cancelled = "task.cancelled";
    /// <summary>A video made through the OpenAI Videos façade completed (OpenAI's event, in OpenAI's shape).</summary>
    public const string VideoCompleted = "video.completed";
    /// <summary>A video made through the OpenAI Videos façade failed or was cancelled (OpenAI's event).</summary>
    public const string VideoFailed = "video.failed";

    /// <summary>Every event type; an endpoint added without a filter receives them all.</summary>
    public static IReadOnlyList<string> All { get; } = [Completed, Failed, Cancelled, VideoCompleted, VideoFailed];
}

/// <summary>A tenant's standing webhook endpoint.</summary>
public sealed record WebhookEndpoint(
    string Id, string TenantId, string Url, IReadOnlyList<string> Events, DateTimeOffset CreatedAt, DateTimeOffset? DisabledAt, string? DisabledReason);

/// <summary>One message to one URL, retried until it lands.</summary>
public sealed record WebhookDelivery
{
    /// <summary>The <c>webhook-id</c>: stable across retries and replays.</summary>
    public required string Id { get; init; }
    /// <summary>The owning tenant.</summary>
    public required string TenantId { get; init; }
    /// <summary>The task it is about.</summary>
    public required string TaskId { get; init; }
    /// <summary>The endpoint, or null for a task's own <c>callback_url</c>.</summary>
    public string? EndpointId { get; init; }
    /// <summary>Where it goes.</summary>
    public required string Url { get; init; }
    /// <summary>E.g. <c>task.completed</c>.</summary>
    public required string EventType { get; init; }
    /// <summary>The exact body sent (signed as is).</summary>
    public required string Payload { get; init; }
    /// <summary><c>pending</c>, <c>delivered</c>, <c>failed</c> or <c>disabled</c>.</summary>
    public required string Status { get; init; }
    /// <summary>Attempts made.</summary>
    public int Attempts { get; init; }
    /// <summary>When the next attempt is due.</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }
    /// <summary>The last HTTP status received.</summary>
    public int? LastStatus { get; init; }
    /// <summary>The last failure.</summary>
    public string? LastError { get; init; }
    /// <summary>When it was made.</summary>
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>When it landed.</summary>
    public DateTimeOffset? DeliveredAt { get; init; }
    /// <summary>The signing secret (<c>whsec_…</c>); never shown.</summary>
    public string? Secret { get; init; }
}

/// <summary>Builds the <c>data</c> of a webhook: the task object as <c>GET /v1/tasks/{id}</c> shows it.</summary>
public interface IWebhookPayloadFactory
{
    /// <summary>The task object's JSON.</summary>
    string TaskJson(Tasks.TaskRecord task);
}
