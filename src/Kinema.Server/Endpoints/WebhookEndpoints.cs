using System.Text.Json;
using Kinema.Contracts.Json;
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
        var group = v1.MapGroup("/webhooks").WithTags("Webhooks")
            .ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        group.MapGet("/default/secret", async (HttpContext http, IWebhookStore store, CancellationToken ct) =>
                TypedResults.Ok(new WebhookSecretResponse(await store.GetOrCreateTenantSecretAsync(TenantContext.Get(http).TenantId, ct))))
            .WithName("GetWebhookSecret").WithSummary("The secret that signs webhooks sent to per-task callback_url");
        group.MapPost("", CreateAsync).Accepts<CreateWebhookRequest>("application/json").ProducesErrors(StatusCodes.Status409Conflict).WithName("CreateWebhook").WithSummary("Add an endpoint that receives events of every task");
        group.MapGet("", async (HttpContext http, IWebhookStore store, CancellationToken ct) =>
                TypedResults.Ok(new WebhookListResponse((await store.ListEndpointsAsync(TenantContext.Get(http).TenantId, ct)).Select(Describe).ToList())))
            .WithName("ListWebhooks");
        group.MapDelete("/{id}", async Task<Results<NoContent, JsonHttpResult<Contracts.Responses.ErrorResponse>>> (string id, HttpContext http, IWebhookStore store, CancellationToken ct) =>
                await store.RemoveEndpointAsync(TenantContext.Get(http).TenantId, id, ct)
                    ? TypedResults.NoContent()
                    : ApiErrors.Create(StatusCodes.Status404NotFound, $"no webhook endpoint '{id}'", "id"))
            .WithName("DeleteWebhook");
        group.MapGet("/deliveries", async Task<Results<Ok<WebhookDeliveryListResponse>, JsonHttpResult<Contracts.Responses.ErrorResponse>>> (HttpContext http, IWebhookStore store, CancellationToken ct) =>
                PageLimit.TryRead(http.Request.Query["limit"], 50, 500, out var limit) is { } badLimit
                    ? badLimit
                    : TypedResults.Ok(new WebhookDeliveryListResponse((await store.ListDeliveriesAsync(
                        TenantContext.Get(http).TenantId, limit, ct)).Select(Describe).ToList())))
            .WithName("ListWebhookDeliveries");
        group.MapPost("/deliveries/{id}/replay", async Task<Results<Accepted, JsonHttpResult<Contracts.Responses.ErrorResponse>>> (string id, HttpContext http, IWebhookStore store, CancellationToken ct) =>
                await store.ReplayAsync(TenantContext.Get(http).TenantId, id, ct)
                    ? TypedResults.Accepted((string?)null)
                    : ApiErrors.Create(StatusCodes.Status404NotFound, $"no delivery '{id}'", "id"))
            .WithName("ReplayWebhookDelivery");
        return group;
    }

    private static async Task<Results<Ok<WebhookCreatedResponse>, JsonHttpResult<Contracts.Responses.ErrorResponse>>> CreateAsync(
        HttpContext http, IWebhookStore store, IOptions<FetchOptions> fetch, IOptions<WebhookOptions> options, CancellationToken ct)
    {
        // Read by hand rather than bound to a record: binding answers a wrong type or a lone surrogate with a bare 400
        // naming no field, and the contract's errors name the field.
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = JsonBody.MaxDepth }, ct);
        }
        catch (JsonException exception)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"the request body is not valid JSON: {exception.Message.Split(" Path:")[0]}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, "the request body must be a JSON object with url and events");
            }

            if (JsonText.FindMalformedPropertyName(root) is { } badName)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, JsonText.MalformedPropertyNameMessage(badName), badName);
            }

            if (!root.TryGetProperty("url", out var urlElement) || urlElement.ValueKind == JsonValueKind.Null)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, "url is required", "url");
            }

            if (!JsonText.TryGetString(urlElement, out var url))
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, JsonText.NotTextMessage("url", urlElement), "url");
            }

            if (string.IsNullOrWhiteSpace(url))
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, "url is required", "url");
            }

            if (AddressPolicy.CheckCallbackUrl("url", url, fetch.Value.AllowPrivateNetworks) is { } violation)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, violation.Message, "url");
            }

            var given = new List<string>();
            if (root.TryGetProperty("events", out var eventsElement) && eventsElement.ValueKind != JsonValueKind.Null)
            {
                if (eventsElement.ValueKind != JsonValueKind.Array)
                {
                    return ApiErrors.Create(StatusCodes.Status400BadRequest, "events must be a JSON array of event names", "events");
                }

                // An empty list reads as "no events", yet it used to subscribe to all of them.
                if (eventsElement.GetArrayLength() == 0)
                {
                    return ApiErrors.Create(StatusCodes.Status400BadRequest,
                        $"events must name at least one of {string.Join(", ", WebhookEvents.All)}; leave it out to receive every event", "events");
                }

                var index = 0;
                foreach (var item in eventsElement.EnumerateArray())
                {
                    var param = $"events[{index++}]";
                    if (!JsonText.TryGetString(item, out var name))
                    {
                        return ApiErrors.Create(StatusCodes.Status400BadRequest, JsonText.NotTextMessage(param, item), param);
                    }

                    if (!WebhookEvents.All.Contains(name))
                    {
                        return ApiErrors.Create(StatusCodes.Status400BadRequest,
                            $"{param}: '{Truncate(name)}' is not one of {string.Join(", ", WebhookEvents.All)}", param);
                    }

                    given.Add(name);
                }
            }

            var events = given.Count > 0 ? given.Distinct().ToList() : [.. WebhookEvents.All];
            var max = options.Value.MaxEndpointsPerTenant;
            if (await store.AddEndpointAsync(TenantContext.Get(http).TenantId, url, events, max, ct) is not var (endpoint, secret))
            {
                return ApiErrors.Create(StatusCodes.Status409Conflict,
                    $"this tenant already has {max} webhook endpoints, the most this server allows (Kinema:Webhooks:MaxEndpointsPerTenant); delete one first");
            }

            return TypedResults.Ok(new WebhookCreatedResponse(endpoint.Id, endpoint.Url, endpoint.Events, secret));
        }
    }

    private static string Truncate(string value) =>
        value.Length > 40 ? value[..(char.IsHighSurrogate(value[39]) ? 39 : 40)] + "…" : value;

    private static WebhookEndpointView Describe(WebhookEndpoint e) =>
        new(e.Id, e.Url, e.Events, e.CreatedAt.ToUnixTimeSeconds(), e.DisabledAt is null ? "active" : "disabled", e.DisabledReason);

    private static WebhookDeliveryView Describe(WebhookDelivery d) =>
        new(d.Id, d.TaskId, d.EndpointId, d.Url, d.EventType, d.Status, d.Attempts, d.LastStatus, d.LastError,
            d.CreatedAt.ToUnixTimeSeconds(), d.DeliveredAt?.ToUnixTimeSeconds(), d.NextAttemptAt?.ToUnixTimeSeconds());
}

internal sealed record WebhookSecretResponse(string Key);
/// <summary>The body of <c>POST /v1/webhooks</c>, for the OpenAPI document (the handler reads it field by field).</summary>
internal sealed record CreateWebhookRequest(string? Url, List<string>? Events);
internal sealed record WebhookCreatedResponse(string Id, string Url, IReadOnlyList<string> Events, string Secret);
internal sealed record WebhookEndpointView(string Id, string Url, IReadOnlyList<string> Events, long Created, string Status, string? DisabledReason);
internal sealed record WebhookListResponse(IReadOnlyList<WebhookEndpointView> Data);
internal sealed record WebhookDeliveryView(
    string Id, string TaskId, string? EndpointId, string Url, string EventType, string Status, int Attempts, int? LastStatus,
    string? LastError, long Created, long? Delivered, long? NextAttempt);
internal sealed record WebhookDeliveryListResponse(IReadOnlyList<WebhookDeliveryView> Data);
