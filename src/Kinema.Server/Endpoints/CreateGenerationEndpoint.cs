using System.Security.Cryptography;
using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Core.Billing;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Scheduling;
using Kinema.Core.Tasks;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Endpoints;

/// <summary><c>POST /v1/videos/generations</c>: validate, write durably, answer with the task id.</summary>
internal static class CreateGenerationEndpoint
{
    private const int MaxIdempotencyKeyLength = 255;

    public static RouteHandlerBuilder MapCreateGeneration(this RouteGroupBuilder group) =>
        group.MapPost("/videos/generations", HandleAsync)
            .WithName("CreateGeneration")
            .WithSummary("Create a video-generation task");

    internal static async Task<Results<Ok<CreateTaskResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        HttpContext http,
        ITaskStore store,
        EngineRouter router,
        EngineRegistry registry,
        TaskQueueSignal signal,
        Core.Diagnostics.KinemaMetrics metrics,
        IOptions<FetchOptions> fetchOptions,
        IOptions<BillingOptions> billing,
        PriceList prices,
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
            var parsed = GenerationRequestRules.Parse(
                document.RootElement,
                new GenerationRuleOptions
                {
                    AllowPrivateNetworks = fetchOptions.Value.AllowPrivateNetworks,
                    MaxImageBytes = fetchOptions.Value.MaxImageBytes,
                    MaxImagePixels = fetchOptions.Value.MaxImagePixels,
                });
            if (!parsed.IsValid)
            {
                return ApiErrors.FromViolations(parsed.Violations);
            }

            var request = parsed.Request!;
            var engines = router.EnginesFor(request.Model);
            if (engines.Count == 0)
            {
                return ApiErrors.Create(StatusCodes.Status503ServiceUnavailable,
                    $"no engine is configured for model '{request.Model}'", "model");
            }

            // An upstream that cannot honour a field refuses the task now, rather than silently dropping it.
            if (registry.Find(engines[0]) is IUpstreamEngine upstream && upstream.Unsupported(request) is { Count: > 0 } unsupported)
            {
                return ApiErrors.FromViolations(unsupported);
            }

            // The price follows the model asked for, not the engine that serves it: a failover never changes it.
            long cost = 0;
            if (billing.Value.Enabled)
            {
                var quote = prices.Quote(request);
                if (quote.Cost is not { } priced)
                {
                    return ApiErrors.Create(StatusCodes.Status400BadRequest, quote.Message!, quote.Param);
                }

                cost = priced;
            }

            var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
            if (idempotencyKey.Length > MaxIdempotencyKeyLength)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest,
                    $"the Idempotency-Key header must be at most {MaxIdempotencyKeyLength} characters", "Idempotency-Key");
            }

            var requestJson = Core.Storage.Sqlite.SqliteTaskStore.SerializeRequest(request);
            var outcome = await store.CreateAsync(
                new NewTask(tenant.TenantId, engines[0], request, idempotencyKey.Length > 0 ? idempotencyKey : null,
                    HashOf(requestJson), requestJson, cost, tenant.Key.Id),
                cancellationToken);
            switch (outcome.Kind)
            {
                case CreateOutcomeKind.KeyConflict:
                    return ApiErrors.Create(StatusCodes.Status409Conflict,
                        $"the Idempotency-Key was already used with a different request body (task {outcome.Task!.Id}); use a new key for a new request",
                        "Idempotency-Key");
                case CreateOutcomeKind.InsufficientCredits:
                    return ApiErrors.InsufficientCredits(outcome.Balance ?? 0, cost);
                case CreateOutcomeKind.TooManyInFlight:
                    http.Response.Headers.RetryAfter = "5";
                    return ApiErrors.Create(StatusCodes.Status429TooManyRequests,
                        $"this tenant already has {outcome.MaxInFlight} tasks pending or processing, its maximum; retry when one ends");
                case CreateOutcomeKind.Replayed:
                    http.Response.Headers["Idempotent-Replayed"] = "true";
                    break;
                default:
                    metrics.TaskCreated(engines[0], request.Model);
                    signal.Notify();
                    break;
            }

            return TypedResults.Ok(new CreateTaskResponse(200, [new SubmittedTask("submitted", outcome.Task!.Id)]));
        }
    }

    private static string HashOf(string canonicalJson) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonicalJson)));
}
