namespace Kinema.Client;

/// <summary>A request to the server failed: HTTP status, the contract's error type and message, and the field at fault.</summary>
public class KinemaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public KinemaException(int status, string? errorType, string message, string? param = null, string? requestId = null,
        IReadOnlyList<KeyValuePair<string?, string>>? errors = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Status = status;
        ErrorType = errorType;
        Param = param;
        RequestId = requestId;
        Errors = errors ?? [];
    }

    /// <summary>The HTTP status (0 when no answer came, 400 for a request refused before sending).</summary>
    public int Status { get; }

    /// <summary>The contract's error type, e.g. <c>invalid_request_error</c>.</summary>
    public string? ErrorType { get; }

    /// <summary>The offending field path, e.g. <c>multi_prompt[1].duration</c>.</summary>
    public string? Param { get; }

    /// <summary>The server's request id, when it sent one.</summary>
    public string? RequestId { get; }

    /// <summary>Every broken rule (field path, message) when several were reported.</summary>
    public IReadOnlyList<KeyValuePair<string?, string>> Errors { get; }
}

/// <summary>A task ended without a video: failed or cancelled.</summary>
public sealed class KinemaTaskFailedException : KinemaException
{
    /// <summary>Creates the exception for a task that ended as <paramref name="task"/>.</summary>
    public KinemaTaskFailedException(Contracts.Responses.TaskStatusData task)
        : base(200, task.Error?.Code, $"task {task.Id} {task.Status}: {task.Error?.Message ?? "no reason given"}")
    {
        Task = task;
    }

    /// <summary>The task as it ended.</summary>
    public Contracts.Responses.TaskStatusData Task { get; }

    /// <summary>The failure code, e.g. <c>image_fetch_failed</c>, or null when cancelled.</summary>
    public string? FailureCode => Task.Error?.Code;
}
