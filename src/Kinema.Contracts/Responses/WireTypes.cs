using System.Text.Json.Serialization;

namespace Kinema.Contracts.Responses;

/// <summary>The answer to a create: <c>{"code":200,"data":[{"status":"submitted","task_id":"…"}]}</c>.</summary>
public sealed record CreateTaskResponse(int Code, IReadOnlyList<SubmittedTask> Data);

/// <summary>One submitted task.</summary>
public sealed record SubmittedTask(string Status, [property: JsonPropertyName("task_id")] string TaskId);

/// <summary>The answer to a task query: <c>{"code":200,"data":{…}}</c>.</summary>
public sealed record TaskResponse(int Code, TaskStatusData Data);

/// <summary>A page of tasks: <c>{"code":200,"data":[…],"has_more":true,"next_cursor":"…"}</c>.</summary>
public sealed record TaskListResponse(int Code, IReadOnlyList<TaskStatusData> Data, bool HasMore, string? NextCursor);

/// <summary>A task's state as the contract's query endpoint shows it, plus Kinema's additions.</summary>
public sealed record TaskStatusData
{
    /// <summary>The task id.</summary>
    public required string Id { get; init; }
    /// <summary><c>pending</c>, <c>processing</c>, <c>completed</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }
    /// <summary>0–100.</summary>
    public int Progress { get; init; }
    /// <summary>Present when completed.</summary>
    public TaskResult? Result { get; init; }
    /// <summary>Unix seconds.</summary>
    public long Created { get; init; }
    /// <summary>Unix seconds; when completed.</summary>
    public long? Completed { get; init; }
    /// <summary>Estimated seconds to completion.</summary>
    public int? EstimatedTime { get; init; }
    /// <summary>Seconds it took; when completed.</summary>
    public int? ActualTime { get; init; }
    /// <summary>Present when failed.</summary>
    public TaskError? Error { get; init; }
    /// <summary>Kinema addition: the model asked for.</summary>
    public string? Model { get; init; }
    /// <summary>Kinema addition: the engine that made (or is making) the video.</summary>
    public string? Engine { get; init; }
    /// <summary>Kinema addition: engines that refused the task before <see cref="Engine"/> took it, and why; and submissions an upstream lost and Kinema sent again.</summary>
    public string? Failover { get; init; }
    /// <summary>Kinema addition: unix seconds of the last change.</summary>
    public long? Updated { get; init; }
    /// <summary>Kinema addition, only when billing is on: credits charged at submit.</summary>
    public long? Cost { get; init; }
    /// <summary>Kinema addition, only when billing is on: whether the cost went back to the balance.</summary>
    public bool? Refunded { get; init; }
}

/// <summary>The answer to a cancel: the task, and (when billing is on) what happened to its cost.</summary>
/// <param name="Code">200.</param>
/// <param name="Data">The cancelled task.</param>
/// <param name="Message">Kinema addition, only when billing is on: whether and why the cost was or was not refunded.</param>
public sealed record CancelTaskResponse(int Code, TaskStatusData Data, string? Message = null);

/// <summary><c>DELETE /v1/tasks/{task_id}</c>'s answer (a Kinema addition).</summary>
/// <param name="Code">200.</param>
/// <param name="Data">The task deleted.</param>
public sealed record DeleteTaskResponse(int Code, DeletedTask Data);

/// <summary>A deleted task.</summary>
/// <param name="TaskId">Its id, which no longer names anything.</param>
/// <param name="Deleted">Always true.</param>
public sealed record DeletedTask(string TaskId, bool Deleted);

/// <summary>The result of a completed task.</summary>
public sealed record TaskResult(IReadOnlyList<TaskVideo> Videos);

/// <summary>One video of a result.</summary>
public sealed record TaskVideo
{
    /// <summary>Signed URLs of the video (one).</summary>
    public required IReadOnlyList<string> Url { get; init; }
    /// <summary>Unix seconds when the URL stops working.</summary>
    public long ExpiresAt { get; init; }
    /// <summary>Kinema addition: a signed URL of the poster JPEG.</summary>
    public string? ThumbnailUrl { get; init; }
    /// <summary>Kinema addition: pixel width.</summary>
    public int? Width { get; init; }
    /// <summary>Kinema addition: pixel height.</summary>
    public int? Height { get; init; }
    /// <summary>Kinema addition: seconds.</summary>
    public double? Duration { get; init; }
    /// <summary>Kinema addition: whether an audio track is present.</summary>
    public bool? HasAudio { get; init; }
}

/// <summary>Why a task failed.</summary>
public sealed record TaskError(string Code, string Message);

/// <summary>The error envelope of every 4xx/5xx answer.</summary>
public sealed record ErrorResponse(ErrorBody Error);

/// <summary>The body of the error envelope.</summary>
public sealed record ErrorBody
{
    /// <summary>The HTTP status repeated.</summary>
    public required int Code { get; init; }
    /// <summary>The error class, e.g. <c>invalid_request_error</c>.</summary>
    public required string Type { get; init; }
    /// <summary>The first offending field path, when there is one.</summary>
    public string? Param { get; init; }
    /// <summary>A human-readable sentence.</summary>
    public required string Message { get; init; }
    /// <summary>Every broken rule, when there are several.</summary>
    public IReadOnlyList<ErrorItem>? Errors { get; init; }
}

/// <summary>One broken rule in <see cref="ErrorBody.Errors"/>.</summary>
public sealed record ErrorItem(string? Param, string Message);

/// <summary>The <c>type</c> values of the error envelope.</summary>
public static class ErrorTypes
{
    /// <summary>400/404/409/413/415/422.</summary>
    public const string InvalidRequest = "invalid_request_error";
    /// <summary>401.</summary>
    public const string Authentication = "authentication_error";
    /// <summary>402.</summary>
    public const string PaymentRequired = "payment_required";
    /// <summary>403.</summary>
    public const string Permission = "permission_error";
    /// <summary>429.</summary>
    public const string RateLimit = "rate_limit_error";
    /// <summary>500.</summary>
    public const string Server = "server_error";
    /// <summary>502/503/504.</summary>
    public const string BadGateway = "bad_gateway";

    /// <summary>The type for an HTTP status.</summary>
    public static string ForStatus(int status) => status switch
    {
        401 => Authentication,
        402 => PaymentRequired,
        403 => Permission,
        429 => RateLimit,
        502 or 503 or 504 => BadGateway,
        >= 500 => Server,
        _ => InvalidRequest,
    };
}
