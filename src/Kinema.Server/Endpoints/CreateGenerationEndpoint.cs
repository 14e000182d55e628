using System.Text.Json;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Endpoints;

/// <summary><c>POST /v1/videos/generations</c>: validate, write durably, answer with the task id.</summary>
internal static class CreateGenerationEndpoint
{
    public static RouteHandlerBuilder MapCreateGeneration(this RouteGroupBuilder group) =>
        group.MapPost("/videos/generations", HandleAsync)
            .WithName("CreateGeneration")
            .WithSummary("Create a video-generation task")
            .WithDescription("Asynchronous: answers at once with the task id; poll GET /v1/tasks/{task_id}, stream its events or "
                             + "pass callback_url. Send Idempotency-Key to make retries safe; a replay answers with Idempotency-Replayed: true.")
            .ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType);

    internal static async Task<Results<Ok<CreateTaskResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        HttpContext http,
        GenerationSubmitter submitter,
        Uploads.UploadUrls uploads,
        IOptions<KinemaServerOptions> serverOptions,
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
            document = await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = JsonBody.MaxDepth }, cancellationToken);
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
            var parsed = GenerationRequestRules.Parse(
                document.RootElement,
                new GenerationRuleOptions
                {
                    AllowPrivateNetworks = submitter.RuleOptions.AllowPrivateNetworks,
                    MaxImageBytes = submitter.RuleOptions.MaxImageBytes,
                    MaxImagePixels = submitter.RuleOptions.MaxImagePixels,
                    OwnImageUrls = uploads.ForTenant(tenant.TenantId, OwnAuthorities(http.Request, serverOptions.Value)),
                });
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

    /// <summary>The hosts this server is reached on: the request's, and the configured public base URL's.</summary>
    private static string[] OwnAuthorities(HttpRequest request, KinemaServerOptions options) =>
        Uri.TryCreate(options.PublicBaseUrl, UriKind.Absolute, out var configured)
            ? [request.Host.Value ?? "", configured.Authority]
            : [request.Host.Value ?? ""];
}
