using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Errors;

/// <summary>The contract's error envelope (spec section 3a), made in one place.</summary>
internal static class ApiErrors
{
    public static JsonHttpResult<ErrorResponse> Create(int status, string message, string? param = null,
        IReadOnlyList<ErrorItem>? errors = null) =>
        TypedResults.Json(
            new ErrorResponse(new ErrorBody
            {
                Code = status,
                Type = ErrorTypes.ForStatus(status),
                Param = param,
                Message = message,
                Errors = errors,
            }),
            KinemaJsonContext.Wire.ErrorResponse,
            statusCode: status);

    public static JsonHttpResult<ErrorResponse> FromViolations(IReadOnlyList<RuleViolation> violations)
    {
        var first = violations[0];
        var message = violations.Count == 1
            ? first.Message
            : $"{first.Message} (and {violations.Count - 1} more: see errors)";
        return Create(
            StatusCodes.Status400BadRequest,
            message,
            first.Param.Length > 0 ? first.Param : null,
            violations.Count > 1 ? violations.Select(v => new ErrorItem(v.Param.Length > 0 ? v.Param : null, v.Message)).ToList() : null);
    }

    /// <summary>
    /// 402 for a create the balance does not cover. The type is <c>insufficient_quota</c>, the code OpenAI-style clients
    /// already recognise for "out of credits", rather than the generic <c>payment_required</c>.
    /// </summary>
    public static JsonHttpResult<ErrorResponse> InsufficientCredits(long balance, long cost) =>
        TypedResults.Json(
            new ErrorResponse(new ErrorBody
            {
                Code = StatusCodes.Status402PaymentRequired,
                Type = InsufficientQuota,
                Message = $"this task costs {cost} credits but the balance is {balance}; add credits and retry",
            }),
            KinemaJsonContext.Wire.ErrorResponse,
            statusCode: StatusCodes.Status402PaymentRequired);

    /// <summary>The error type of a 402 for want of credits.</summary>
    public const string InsufficientQuota = "insufficient_quota";

    public static JsonHttpResult<ErrorResponse> TaskNotFound(string taskId, MessageLanguage language = MessageLanguage.English) =>
        Create(StatusCodes.Status404NotFound, TaskMessages.TaskNotFound(Truncate(taskId), language), "task_id");

    /// <summary>
    /// The 400 of a multipart body that stops inside a part (no closing boundary): the client sent all it meant to, so it
    /// is a malformed request, not a server fault.
    /// </summary>
    public static JsonHttpResult<ErrorResponse> MultipartEndedEarly(string? param = null) =>
        Create(StatusCodes.Status400BadRequest, "the multipart body ends inside a part: it has no closing boundary", param);

    /// <summary>The 400 of a <c>language</c> query parameter the contract does not name.</summary>
    public static JsonHttpResult<ErrorResponse> UnknownLanguage() =>
        Create(StatusCodes.Status400BadRequest, $"language must be one of {string.Join(", ", MessageLanguages.All)}", "language");

    /// <summary>Declares, for the OpenAPI document, the statuses an endpoint (or group) answers with the error envelope.</summary>
    public static TBuilder ProducesErrors<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ErrorResponse), ["application/json"]));
        }

        return builder;
    }

    /// <summary>Writes an envelope outside endpoint handling (middleware, status-code pages).</summary>
    public static Task WriteAsync(HttpContext context, int status, string message, string? param = null)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(
            new ErrorResponse(new ErrorBody { Code = status, Type = ErrorTypes.ForStatus(status), Param = param, Message = message }),
            KinemaJsonContext.Wire.ErrorResponse,
            contentType: "application/json",
            cancellationToken: context.RequestAborted);
    }

    private static string Truncate(string value) =>
        value.Length > 64 ? value[..(char.IsHighSurrogate(value[63]) ? 63 : 64)] + "…" : value;
}
