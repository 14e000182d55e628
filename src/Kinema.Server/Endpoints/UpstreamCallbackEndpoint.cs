using Kinema.Core.Tasks;
using Kinema.Core.Upstream;
using Kinema.Server.Errors;

namespace Kinema.Server.Endpoints;

/// <summary>
/// <c>POST /callbacks/{engine}/{task_id}?token=…</c>: an upstream says a task changed. The body is never trusted: the
/// callback only makes the task's next poll due now, and the poll's answer decides.
/// </summary>
internal static class UpstreamCallbackEndpoint
{
    public static IEndpointConventionBuilder MapUpstreamCallbacks(this IEndpointRouteBuilder app) =>
        app.MapPost(CallbackUrls.RoutePrefix + "/{engine}/{task_id}", HandleAsync)
            .WithName("UpstreamCallback")
            .ExcludeFromDescription();

    internal static async Task<IResult> HandleAsync(
        string engine,
        string task_id,
        string? token,
        CallbackUrls callbacks,
        IUpstreamTaskStore store,
        UpstreamPollerSignal poller,
        CancellationToken cancellationToken)
    {
        if (!TaskIds.IsWellFormed(task_id) || !callbacks.Verify(task_id, token))
        {
            return ApiErrors.Create(StatusCodes.Status403Forbidden, "the callback token is not valid for this task");
        }

        if (await store.PollNowAsync(task_id, cancellationToken))
        {
            poller.Wake();
        }

        return TypedResults.Ok();
    }
}
