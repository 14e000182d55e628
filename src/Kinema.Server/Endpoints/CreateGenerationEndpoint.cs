using System.Text.Json;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary><c>POST /v1/videos/generations</c>: validate, write durably, answer with the task id.</summary>
internal static class CreateGenerationEndpoint
{
    public static RouteHandlerBuilder MapCreateGeneration(this RouteGroupBuilder group) =>
        group.MapPost("/videos/generations", HandleAsync)
            .WithName("CreateGeneration")
            .WithSummary("Create a video-generation task");

    internal static async Task<Results<Ok<CreateTaskResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        HttpContext http,
        GenerationSubmitter submitter,
        CancellationToken cancellationToken)
    {
        var tenant = TenantContext.Get(http);
        if (http.Request.ContentType is { Length: > 0 } contentType
            && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return ApiErrors.Create(StatusCodes.Status415UnsupportedMediaType,
                $"the request body must be JSON (Content-Type: application/json), not '{contentType}'");
        }

        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, cancellationToken);
        }
        catch (JsonException exception)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"the request body is not valid JSON: {exception.Message.Split(" Path:")[0]}");
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ApiErrors.Create(StatusCodes.Status413PayloadTooLarge,
                "the request body is larger than this server accepts; upload large images and pass their URLs");
        }

        using (document)
        {
            var parsed = GenerationRequestRules.Parse(document.RootElement, submitter.RuleOptions);
            if (!parsed.IsValid)
            {
                return ApiErrors.FromViolations(parsed.Violations);
            }

            var submission = await submitter.SubmitAsync(http, tenant.TenantId, parsed.Request!, cancellationToken);
            return submission.Error is { } error
                ? error
                : TypedResults.Ok(new CreateTaskResponse(200, [new SubmittedTask("submitted", submission.Task!.Id)]));
        }
    }
}
