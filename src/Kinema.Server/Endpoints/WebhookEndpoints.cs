using Kinema.Contracts.Rules;
using Kinema.Core.Fetching;
using Kinema.Core.Webhooks;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Endpoints;

/// <summary>
/// <c>/v1/webhooks</c>: the signing secret for per-task callback URLs (the route Replicate uses), standing endpoints,
/// and the deliveries with replay.
/// </summary>
internal static class WebhookEndpoints
{
    public static RouteGroupBuilder MapWebhooks(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/webhooks").WithTags("Webhooks");
        group.MapGet("/default/secret", async (HttpContext http, IWebhookStore store, CancellationToken ct) =>
                TypedResults.Ok(new WebhookSecretResponse(await store.GetOrCreateTenantSecretAsync(TenantContext.Get(http).TenantId, ct))))
            .WithName("GetWebhookSecret").WithSummary("The secret that signs webhooks sent to per-task callback_url");
        group.MapPost("", CreateAsync).WithName("CreateWebhook").WithSummary("Add an endpoint that receives events of every task");
        group.MapGet("", async (HttpContext http, IWebhookStore store, CancellationToken ct) =>
                TypedResults.Ok(new WebhookListResponse((await store.ListEndpointsAsync(TenantContext.Get(http).TenantId, ct)).Select(Describe).ToList())))
            .WithName("ListWebhooks");
        group.MapDelete("/{id}", async Task<Results<NoContent, JsonHttpResult<Contracts.Responses.ErrorResponse>>> (string id, HttpContext http, IWebhookStore store, CancellationToken ct) =>
                await store.RemoveEndpointAsync(TenantContext.Get(http).TenantId, id, ct)
                    ? TypedResults.NoContent()
                    : ApiErrors.Create(StatusCodes.Status404NotFound, $"no webhook endpoint '{id}'", "id"))
            .WithName("DeleteWebhook");
        group.MapGet("/deliveries", async (int? limit, HttpContext http, IWebhookStore store, CancellationToken ct) =>
                TypedResults.Ok(new WebhookDeliveryListResponse((await store.ListDeliveriesAsync(
                    TenantContext.Get(http).TenantId, Math.Clamp(limit ?? 50, 1, 500), ct)).Select(Describe).ToList())))
            .WithName("ListWebhookDeliveries");
        group.MapPost("/deliveries/{id}/replay", async Task<Results<Accepted, JsonHttpResult<Contracts.Responses.ErrorResponse>>> (string id, HttpContext http, IWebhookStore store, CancellationToken ct) =>
                await store.ReplayAsync(TenantContext.Get(http).TenantId, id, ct)
                    ? TypedResults.Accepted((string?)null)
                    : ApiErrors.Create(StatusCodes.Status404NotFound, $"no delivery '{id}'", "id"))
            .WithName("ReplayWebhookDelivery");
        return group;
    }

    private static async Task<Results<Ok<WebhookCreatedResponse>, JsonHttpResult<Contracts.Responses.ErrorResponse>>> CreateAsync(
        CreateWebhookRequest body, HttpContext http, IWebhookStore store, IOptions<FetchOptions> fetch, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(body.Url))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "url is required", "url");
        }

        if (AddressPolicy.CheckCallbackUrl("url", body.Url, fetch.Value.AllowPrivateNetworks) is { } violation)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, violation.Message, "url");
        }

        var events = body.Events is { Count: > 0 } given ? given.Distinct().ToList() : [.. WebhookEvents.All];
        if (events.FirstOrDefault(e => !WebhookEvents.All.Contains(e)) is { } unknown)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"events: '{unknown}' is not one of {string.Join(", ", WebhookEvents.All)}", "events");
        }

        var (endpoint, secret) = await store.AddEndpointAsync(TenantContext.Get(http).TenantId, body.Url, events, ct);
        return TypedResults.Ok(new WebhookCreatedResponse(endpoint.Id, endpoint.Url, endpoint.Events, secret));
    }

    private static WebhookEndpointView Describe(WebhookEndpoint e) =>
        new(e.Id, e.Url, e.Events, e.CreatedAt.ToUnixTimeSeconds(), e.DisabledAt is null ? "active" : "disabled", e.DisabledReason);

    private static WebhookDeliveryView Describe(WebhookDelivery d) =>
        new(d.Id, d.TaskId, d.EndpointId, d.Url, d.EventType, d.Status, d.Attempts, d.LastStatus, d.LastError,
            d.CreatedAt.ToUnixTimeSeconds(), d.DeliveredAt?.ToUnixTimeSeconds(), d.NextAttemptAt?.ToUnixTimeSeconds());
}

internal sealed record WebhookSecretResponse(string Key);
internal sealed record CreateWebhookRequest(string? Url, List<string>? Events);
internal sealed record WebhookCreatedResponse(string Id, string Url, IReadOnlyList<string> Events, string Secret);
internal sealed record WebhookEndpointView(string Id, string Url, IReadOnlyList<string> Events, long Created, string Status, string? DisabledReason);
internal sealed record WebhookListResponse(IReadOnlyList<WebhookEndpointView> Data);
internal sealed record WebhookDeliveryView(
    string Id, string TaskId, string? EndpointId, string Url, string EventType, string Status, int Attempts, int? LastStatus,
    string? LastError, long Created, long? Delivered, long? NextAttempt);
internal sealed record WebhookDeliveryListResponse(IReadOnlyList<WebhookDeliveryView> Data);
