using Kinema.Contracts.Responses;
using Kinema.Core.Tasks;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary><c>GET /v1/tasks/{task_id}</c>: the task's state and, when done, signed links to its result.</summary>
internal static class GetTaskEndpoint
{
    public static RouteHandlerBuilder MapGetTask(this RouteGroupBuilder group) =>
        group.MapGet("/tasks/{task_id}", HandleAsync)
            .WithName("GetTask")
            .WithSummary("Query a task")
            .ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

    internal static async Task<Results<Ok<TaskResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        string task_id,
        string? language,
        HttpContext http,
        ITaskStore store,
        TaskStatusMapper mapper,
        CancellationToken cancellationToken)
    {
        if (!TaskMessages.TryParse(language, out var messageLanguage))
        {
            return ApiErrors.UnknownLanguage();
        }

        var tenant = TenantContext.Get(http);
        // Another tenant's task and a task that never existed look the same: 404, never 403.
        var task = TaskIds.IsWellFormed(task_id) ? await store.GetAsync(tenant.TenantId, task_id, cancellationToken) : null;
        return task is null
            ? ApiErrors.TaskNotFound(task_id, messageLanguage)
            : TypedResults.Ok(new TaskResponse(200, mapper.Map(task, http.Request, messageLanguage)));
    }
}
