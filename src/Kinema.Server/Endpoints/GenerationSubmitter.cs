using System.Security.Cryptography;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Scheduling;
using Kinema.Core.Tasks;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Endpoints;

/// <summary>A submitted task, or the error envelope that refused it.</summary>
/// <param name="Task">The task written (or the earlier one an idempotent replay names).</param>
/// <param name="Replayed">True when the Idempotency-Key named an earlier, identical request.</param>
/// <param name="Error">Why the request was refused.</param>
/// <param name="RetryAfter">True when the refusal is temporary (the tenant's cap on tasks in flight).</param>
internal sealed record Submission(TaskRecord? Task, bool Replayed, JsonHttpResult<ErrorResponse>? Error, bool RetryAfter = false);

/// <summary>
/// The one path from a validated <see cref="GenerationRequest"/> to a durable task for a tenant: engine routing, the
/// upstream's refusals, the Idempotency-Key, the write, metrics and the queue signal. The contract's create and the
/// OpenAI Videos façade both submit through it, so a task is the same whichever door it came in by.
/// </summary>
internal sealed class GenerationSubmitter(
    ITaskStore store,
    EngineRouter router,
    EngineRegistry registry,
    TaskQueueSignal signal,
    Core.Diagnostics.KinemaMetrics metrics,
    IOptions<FetchOptions> fetchOptions,
    IOptions<Core.Billing.BillingOptions> billing,
    Core.Billing.PriceList prices)
{
    private const int MaxIdempotencyKeyLength = 255;

    /// <summary>The deployment's switches for the contract's rules (image caps, private networks).</summary>
    public GenerationRuleOptions RuleOptions { get; } = new()
    {
        AllowPrivateNetworks = fetchOptions.Value.AllowPrivateNetworks,
        MaxImageBytes = fetchOptions.Value.MaxImageBytes,
        MaxImagePixels = fetchOptions.Value.MaxImagePixels,
    };

    /// <summary>Writes the task; the request must already have passed the rule set.</summary>
    public async Task<Submission> SubmitAsync(
        string tenantId, GenerationRequest request, string? idempotencyKey, CancellationToken cancellationToken, string? keyId = null)
    {
        var engines = router.EnginesFor(request.Model);
        if (engines.Count == 0)
        {
            return Refused(ApiErrors.Create(StatusCodes.Status503ServiceUnavailable,
                $"no engine is configured for model '{request.Model}'", "model"));
        }

        // An upstream that cannot honour a field refuses the task now, rather than silently dropping it.
        if (registry.Find(engines[0]) is IUpstreamEngine upstream && upstream.Unsupported(request) is { Count: > 0 } unsupported)
        {
            return Refused(ApiErrors.FromViolations(unsupported));
        }

        // The price follows the model asked for, not the engine that serves it: a failover never changes it.
        long cost = 0;
        if (billing.Value.Enabled)
        {
            var quote = prices.Quote(request);
            if (quote.Cost is not { } priced)
            {
                return Refused(ApiErrors.Create(StatusCodes.Status400BadRequest, quote.Message!, quote.Param));
            }

            cost = priced;
        }

        if (idempotencyKey is { Length: > MaxIdempotencyKeyLength })
        {
            return Refused(ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"the Idempotency-Key header must be at most {MaxIdempotencyKeyLength} characters", "Idempotency-Key"));
        }

        var requestJson = Core.Storage.Sqlite.SqliteTaskStore.SerializeRequest(request);
        var key = idempotencyKey is { Length: > 0 } ? idempotencyKey : null;
        // The hash only ever tells a replay from a clash under the same key: a create without a key stores none, which
        // spares it the SHA-256 and its row 64 bytes.
        var outcome = await store.CreateAsync(
            new NewTask(tenantId, engines[0], request, key, key is null ? "" : HashOf(requestJson), requestJson, cost, keyId),
            cancellationToken);
        switch (outcome.Kind)
        {
            case CreateOutcomeKind.KeyConflict:
                return Refused(ApiErrors.Create(StatusCodes.Status409Conflict,
                    $"the Idempotency-Key was already used with a different request body (task {outcome.Task!.Id}); use a new key for a new request",
                    "Idempotency-Key"));
            case CreateOutcomeKind.InsufficientCredits:
                return Refused(ApiErrors.InsufficientCredits(outcome.Balance ?? 0, cost));
            case CreateOutcomeKind.TooManyInFlight:
                return Refused(ApiErrors.Create(StatusCodes.Status429TooManyRequests,
                    $"this tenant already has {outcome.MaxInFlight} tasks pending or processing, its maximum; retry when one ends"), retryAfter: true);
            case CreateOutcomeKind.Replayed:
                return new Submission(outcome.Task, Replayed: true, null);
            default:
                metrics.TaskCreated(engines[0], request.Model);
                signal.Notify();
                return new Submission(outcome.Task, Replayed: false, null);
        }
    }

    /// <summary>Submits for the request's caller, honouring its Idempotency-Key and marking a replay in the answer.</summary>
    public async Task<Submission> SubmitAsync(HttpContext http, string tenantId, GenerationRequest request, CancellationToken cancellationToken)
    {
        var keys = http.Request.Headers["Idempotency-Key"];
        if (keys.Count > 1)
        {
            // Joined, two keys would read as one new key: a retry that sent them differently would make a second task.
            return Refused(ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"send one Idempotency-Key header, not {keys.Count}", "Idempotency-Key"));
        }

        var submission = await SubmitAsync(tenantId, request, keys.ToString(), cancellationToken, Auth.TenantContext.Get(http).Key.Id);
        if (submission.RetryAfter)
        {
            http.Response.Headers.RetryAfter = "5";
        }

        if (submission.Replayed)
        {
            // The aggregator's client reads Idempotency-Replayed; Idempotent-Replayed is kept for earlier clients.
            http.Response.Headers["Idempotency-Replayed"] = "true";
            http.Response.Headers["Idempotent-Replayed"] = "true";
        }

        return submission;
    }

    private static Submission Refused(JsonHttpResult<ErrorResponse> error, bool retryAfter = false) => new(null, false, error, retryAfter);

    private static string HashOf(string canonicalJson) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonicalJson)));
}
