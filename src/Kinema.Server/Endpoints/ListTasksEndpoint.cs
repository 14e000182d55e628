using Kinema.Contracts.Responses;
using Kinema.Core.Tasks;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary><c>GET /v1/tasks</c>: the tenant's tasks, newest first, a page at a time.</summary>
internal static class ListTasksEndpoint
{
    public static RouteHandlerBuilder MapListTasks(this RouteGroupBuilder group) =>
        group.MapGet("/tasks", HandleAsync)
            .WithName("ListTasks")
            .WithSummary("List tasks, newest first; pass after=<next_cursor> for the next page")
            .ProducesErrors(StatusCodes.Status400BadRequest);

    internal static async Task<Results<Ok<TaskListResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        string? status,
        string? model,
        string? created_after,
        string? limit,
        string? after,
        HttpContext http,
        ITaskStore store,
        TaskStatusMapper mapper,
        CancellationToken cancellationToken)
    {
        TaskState? state = null;
        if (status is not null)
        {
            if (!TaskStateNames.TryParse(status, out var parsed))
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest,
                    "status must be one of pending, processing, completed, failed, cancelled", "status");
            }

            state = parsed;
        }

        // No model id has one, and PostgreSQL refuses a NUL in a query parameter outright.
        if (model is not null && model.Any(char.IsControl))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "model must be a model id such as kling-v3: printable characters", "model");
        }

        // An empty filter matched no task and looked like an empty account; leaving it out is how to list every model.
        if (model is { Length: 0 })
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                "model must be a model id such as kling-v3, not empty; leave it out to list tasks of every model", "model");
        }

        if (PageLimit.TryRead(limit, out var size) is { } badLimit)
        {
            return badLimit;
        }

        DateTimeOffset? createdAfter = null;
        if (created_after is not null)
        {
            if (!long.TryParse(created_after, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
                || seconds > 253402300799)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, "created_after must be unix seconds", "created_after");
            }

            createdAfter = DateTimeOffset.FromUnixTimeSeconds(seconds);
        }

        if (after is not null && !TaskIds.IsWellFormed(after))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "after must be a next_cursor from an earlier page", "after");
        }

        var tenant = TenantContext.Get(http);
        var page = await store.ListAsync(tenant.TenantId, new TaskQuery(size, after, state, model, createdAfter), cancellationToken);
        return TypedResults.Ok(new TaskListResponse(
            200, page.Tasks.Select(task => mapper.Map(task, http.Request)).ToList(), page.HasMore, page.NextCursor));
    }
}
