using Kinema.Contracts.Responses;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary><c>DELETE /v1/tasks/{task_id}</c>: the task and its files are gone for good; a running one is cancelled first.</summary>
internal static class DeleteTaskEndpoint
{
    public static RouteHandlerBuilder MapDeleteTask(this RouteGroupBuilder group) =>
        group.MapDelete("/tasks/{task_id}", HandleAsync)
            .WithName("DeleteTask")
            .WithSummary("Delete a task and its result files")
            .WithDescription("Kinema addition. The task's row, video, poster and images are deleted; its signed links stop working. "
                             + "A task that has not ended is cancelled first (its credits follow the cancel's rules). A second delete answers 404.")
            .ProducesErrors(StatusCodes.Status404NotFound);

    internal static async Task<Results<Ok<DeleteTaskResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        string task_id, HttpContext http, TaskDeleter deleter, CancellationToken cancellationToken)
    {
        var tenant = TenantContext.Get(http);
        return await deleter.DeleteAsync(tenant.TenantId, task_id, cancellationToken)
            ? TypedResults.Ok(new DeleteTaskResponse(200, new DeletedTask(task_id, Deleted: true)))
            : ApiErrors.TaskNotFound(task_id);
    }
}
