using Kinema.Core.Tasks;

namespace Kinema.Core.Webhooks;

/// <summary>One message the outbox is to send about a finished task.</summary>
/// <param name="EndpointId">The standing endpoint, or null for the task's own <c>callback_url</c>.</param>
/// <param name="Url">Where it goes.</param>
/// <param name="EventType">E.g. <c>task.completed</c> or <c>video.completed</c>.</param>
/// <param name="Body">The exact body to sign and send.</param>
public sealed record PlannedDelivery(string? EndpointId, string Url, string EventType, string Body);

/// <summary>
/// Which events a finished task produces and who receives each: the one place both store providers ask, so the
/// SQLite and PostgreSQL outboxes cannot drift apart. Pure: no I/O, the caller inserts the result.
/// </summary>
public static class WebhookEventPlan
{
    /// <summary>
    /// Every task's <c>task.*</c> event goes to its <c>callback_url</c> and to the endpoints subscribed to it. A video made
    /// through the OpenAI Videos façade also produces OpenAI's <c>video.completed</c> or <c>video.failed</c> (a cancelled
    /// video is a failed one there), in OpenAI's shape, for the endpoints subscribed to that.
    /// </summary>
    /// <param name="task">A task in a terminal state.</param>
    /// <param name="endpoints">The tenant's standing endpoints (disabled ones are skipped here).</param>
    /// <param name="taskJson">The task object's JSON; called only when some receiver wants a <c>task.*</c> event.</param>
    /// <param name="now">When the events are made.</param>
    public static IReadOnlyList<PlannedDelivery> For(
        TaskRecord task, IReadOnlyList<WebhookEndpoint> endpoints, Func<TaskRecord, string> taskJson, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(taskJson);
        var planned = new List<PlannedDelivery>();
        var active = endpoints.Where(e => e.DisabledAt is null).ToList();

        var taskEvent = TaskEventType(task.State);
        var taskTargets = new List<(string? EndpointId, string Url)>();
        if (task.Request.CallbackUrl is { } callback)
        {
            taskTargets.Add((null, callback));
        }

        taskTargets.AddRange(active.Where(e => e.Events.Contains(taskEvent)).Select(e => ((string?)e.Id, e.Url)));
        if (taskTargets.Count > 0)
        {
            var body = $$"""{"type":"{{taskEvent}}","timestamp":"{{now.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}}","data":{{taskJson(task)}}}""";
            planned.AddRange(taskTargets.Select(t => new PlannedDelivery(t.EndpointId, t.Url, taskEvent, body)));
        }

        if (task.Request.Facade is { IsOpenAiVideo: true })
        {
            var videoEvent = task.State == TaskState.Completed ? WebhookEvents.VideoCompleted : WebhookEvents.VideoFailed;
            var videoTargets = active.Where(e => e.Events.Contains(videoEvent)).ToList();
            if (videoTargets.Count > 0)
            {
                // OpenAI's event object: the video id only; the receiver retrieves the video for the rest. Ids are ULIDs
                // (JSON-safe as they are).
                var eventId = "evt_" + TaskIds.New(now)[TaskIds.Prefix.Length..];
                var body = $$$"""{"id":"{{{eventId}}}","object":"event","type":"{{{videoEvent}}}","created_at":{{{now.ToUnixTimeSeconds()}}},"data":{"id":"{{{task.Id}}}"}}""";
                planned.AddRange(videoTargets.Select(e => new PlannedDelivery(e.Id, e.Url, videoEvent, body)));
            }
        }

        return planned;
    }

    private static string TaskEventType(TaskState state) => state switch
    {
        TaskState.Completed => WebhookEvents.Completed,
        TaskState.Failed => WebhookEvents.Failed,
        _ => WebhookEvents.Cancelled,
    };
}
