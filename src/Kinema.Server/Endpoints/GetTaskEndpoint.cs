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
    private static readonly string[] Languages = ["en", "zh", "ko", "ja"];

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
        if (language is not null && !Languages.Contains(language, StringComparer.OrdinalIgnoreCase))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"language must be one of {string.Join(", ", Languages)}", "language");
        }

        var tenant = TenantContext.Get(http);
        // Another tenant's task and a task that never existed look the same: 404, never 403.
        var task = TaskIds.IsWellFormed(task_id) ? await store.GetAsync(tenant.TenantId, task_id, cancellationToken) : null;
        return task is null
            ? ApiErrors.TaskNotFound(task_id)
            : TypedResults.Ok(new TaskResponse(200, mapper.Map(task, http.Request)));
    }
}
