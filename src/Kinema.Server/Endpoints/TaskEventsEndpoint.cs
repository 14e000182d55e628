using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Responses;
using Kinema.Core.Tasks;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary>
/// <c>GET /v1/tasks/{task_id}/events</c>: Server-Sent Events with the task object at once and after every change,
/// ending after a terminal state. Event ids grow with every change, so <c>Last-Event-ID</c> resumes where a dropped
/// connection left off. A task deleted while it is watched ends its stream with a <c>deleted</c> event, the same
/// object <c>DELETE</c> answers with, so the watcher learns why the stream ended instead of reconnecting into a 404.
/// </summary>
internal static class TaskEventsEndpoint
{
    public const string EventName = "task";

    public const string KeepAliveEventName = "keepalive";

    public const string DeletedEventName = "deleted";

    /// <summary>
    /// How often a watcher re-reads the store without a notice. Every change on this node notifies at once; this only
    /// catches changes made elsewhere (another process on a shared store), so it can be slow and cheap.
    /// </summary>
    private static readonly TimeSpan Fallback = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The serialised event of a task version, shared by everyone watching that task: with a thousand watchers a change
    /// is mapped and serialised once, not a thousand times. Keyed by the base URL too, since links are absolute, and by
    /// the language of its messages.
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string TaskId, long Version, string BaseUrl, MessageLanguage Language), string> Rendered = new();

    public static RouteHandlerBuilder MapTaskEvents(this RouteGroupBuilder group) =>
        group.MapGet("/tasks/{task_id}/events", HandleAsync)
            .WithName("WatchTask")
            .WithSummary("Stream a task's changes as Server-Sent Events")
            .ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

    internal static async Task<Results<ServerSentEventsResult<string>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        string task_id,
        string? language,
        HttpContext http,
        ITaskStore store,
        TaskChangeFeed feed,
        TaskStatusMapper mapper,
        IHostApplicationLifetime lifetime,
        CancellationToken cancellationToken)
    {
        if (!TaskMessages.TryParse(language, out var messageLanguage))
        {
            return ApiErrors.UnknownLanguage();
        }

        var tenant = TenantContext.Get(http);
        var task = TaskIds.IsWellFormed(task_id) ? await store.GetAsync(tenant.TenantId, task_id, cancellationToken) : null;
        if (task is null)
        {
            return ApiErrors.TaskNotFound(task_id, messageLanguage);
        }

        long.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var lastSeen);
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        return TypedResults.ServerSentEvents(
            StreamAsync(tenant.TenantId, task_id, lastSeen, messageLanguage, store, feed, mapper, http.Request, lifetime.ApplicationStopping,
                cancellationToken));
    }

    private static async IAsyncEnumerable<SseItem<string>> StreamAsync(
        string tenantId,
        string taskId,
        long lastSeen,
        MessageLanguage language,
        ITaskStore store,
        TaskChangeFeed feed,
        TaskStatusMapper mapper,
        HttpRequest request,
        CancellationToken stopping,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // A node shutting down ends its streams cleanly between events: the watcher reconnects with Last-Event-ID (to
        // another node behind the balancer) at once, instead of the shutdown waiting out its timeout for a task that may
        // run for minutes and then cutting the connection.
        using var stopOrGone = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        // Subscribe before the first read, so a change between the two is never missed.
        using var subscription = feed.Subscribe(taskId);
        var quiet = TimeSpan.Zero;
        var first = true;
        while (!stopOrGone.IsCancellationRequested)
        {
            var task = await store.GetAsync(tenantId, taskId, cancellationToken);
            if (task is null)
            {
                yield return new SseItem<string>(
                    JsonSerializer.Serialize(new DeletedTask(taskId, Deleted: true), KinemaJsonContext.Wire.DeletedTask),
                    DeletedEventName);
                yield break;
            }

            var version = VersionOf(task);
            if (version > lastSeen)
            {
                lastSeen = version;
                quiet = TimeSpan.Zero;
                var baseUrl = mapper.BaseUrl(request);
                if (!Rendered.TryGetValue((taskId, version, baseUrl, language), out var json))
                {
                    if (Rendered.Count > 10_000)
                    {
                        Rendered.Clear();
                    }

                    json = JsonSerializer.Serialize(mapper.Map(task, baseUrl, language), KinemaJsonContext.Wire.TaskStatusData);
                    Rendered[(taskId, version, baseUrl, language)] = json;
                }

                yield return new SseItem<string>(json, EventName) { EventId = version.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            }
            else if (first || quiet >= KeepAlive)
            {
                quiet = TimeSpan.Zero;
                // Keeps proxies from closing an idle stream; clients listening for "task" events never see it. Sent at
                // once too when a resumed stream (Last-Event-ID) has nothing new, since the answer's headers go out with
                // its first event: without it the watcher would wait for them until the next change or keep-alive.
                yield return new SseItem<string>("{}", KeepAliveEventName);
            }

            first = false;
            if (task.State.IsTerminal())
            {
                yield break;
            }

            bool notified;
            try
            {
                notified = await subscription.WaitAsync(Fallback, stopOrGone.Token);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }

            quiet += notified ? TimeSpan.Zero : Fallback;
        }
    }

    /// <summary>A number that grows with every change of the task: its last-change time, then its progress.</summary>
    internal static long VersionOf(TaskRecord task) =>
        (task.UpdatedAt.ToUnixTimeMilliseconds() * 1000) + (task.State.IsTerminal() ? 999 : task.Progress);
}
