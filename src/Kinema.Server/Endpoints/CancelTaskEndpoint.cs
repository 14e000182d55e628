using Kinema.Contracts.Responses;
using Kinema.Core.Tasks;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary><c>POST /v1/tasks/{task_id}/cancel</c>: a pending task never runs; a running one stops.</summary>
internal static class CancelTaskEndpoint
{
    public static RouteHandlerBuilder MapCancelTask(this RouteGroupBuilder group) =>
        group.MapPost("/tasks/{task_id}/cancel", HandleAsync)
            .WithName("CancelTask")
            .WithSummary("Cancel a task that has not ended")
            .ProducesErrors(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);

    internal static async Task<Results<Ok<CancelTaskResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        string task_id,
        HttpContext http,
        TaskCanceller canceller,
        TaskStatusMapper mapper,
        Microsoft.Extensions.Options.IOptions<Core.Billing.BillingOptions> billing,
        CancellationToken cancellationToken)
    {
        var tenant = TenantContext.Get(http);
        if (!TaskIds.IsWellFormed(task_id))
        {
            return ApiErrors.TaskNotFound(task_id);
        }

        var outcome = await canceller.CancelAsync(tenant.TenantId, task_id, cancellationToken);
        if (outcome.Task is null)
        {
            return ApiErrors.TaskNotFound(task_id);
        }

        if (!outcome.Cancelled)
        {
            return ApiErrors.Create(StatusCodes.Status409Conflict,
                $"the task is already {outcome.Task.State.ToWire()} and can no longer be cancelled", "task_id");
        }

        return TypedResults.Ok(new CancelTaskResponse(200, mapper.Map(outcome.Task, http.Request),
            billing.Value.Enabled ? RefundMessage(outcome.Task) : null));
    }

    private static string? RefundMessage(TaskRecord task) => task switch
    {
        { Cost: 0 } => null,
        { Refunded: true } => $"cancelled before any engine accepted it: its {task.Cost} credits were refunded",
        _ => $"cancelled after the upstream engine '{task.Upstream?.Engine}' accepted it: the upstream bills the work, so its {task.Cost} credits are not refunded",
    };
}
