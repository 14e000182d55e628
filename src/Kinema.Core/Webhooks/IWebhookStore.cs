namespace Kinema.Core.Webhooks;

/// <summary>Webhook endpoints, secrets and the durable outbox of deliveries.</summary>
public interface IWebhookStore
{
    /// <summary>The tenant's secret for per-task <c>callback_url</c>s, made on first use.</summary>
    Task<string> GetOrCreateTenantSecretAsync(string tenantId, CancellationToken cancellationToken);

    /// <summary>
    /// Adds a standing endpoint and returns it with its secret (shown once), or null when the tenant already has
    /// <paramref name="maxPerTenant"/> endpoints: counted and added as one step, so nodes adding at once never pass the cap.
    /// </summary>
    Task<(WebhookEndpoint Endpoint, string Secret)?> AddEndpointAsync(
        string tenantId, string url, IReadOnlyList<string> events, int maxPerTenant, CancellationToken cancellationToken);

    /// <summary>The tenant's endpoints.</summary>
    Task<IReadOnlyList<WebhookEndpoint>> ListEndpointsAsync(string tenantId, CancellationToken cancellationToken);

    /// <summary>Removes an endpoint; false when the tenant has none with that id.</summary>
    Task<bool> RemoveEndpointAsync(string tenantId, string endpointId, CancellationToken cancellationToken);

    /// <summary>
    /// Turns finished tasks not yet announced into deliveries (their own callback_url and every subscribed endpoint),
    /// in the same transaction that marks them announced, so a crash can neither lose nor double an event.
    /// </summary>
    Task<int> EnqueueFinishedTasksAsync(int max, Func<Tasks.TaskRecord, string> payload, CancellationToken cancellationToken);

    /// <summary>Takes due deliveries, pushing their next attempt out by <paramref name="claimFor"/> meanwhile.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(int max, TimeSpan claimFor, CancellationToken cancellationToken);

    /// <summary>Records an attempt's outcome.</summary>
    Task RecordAttemptAsync(string deliveryId, WebhookAttempt attempt, CancellationToken cancellationToken);

    /// <summary>The tenant's deliveries, newest first.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string tenantId, int limit, CancellationToken cancellationToken);

    /// <summary>Sends a delivery again (same id and body); false when the tenant has none with that id.</summary>
    Task<bool> ReplayAsync(string tenantId, string deliveryId, CancellationToken cancellationToken);
}

/// <summary>What one attempt did.</summary>
/// <param name="Outcome">delivered, retry, failed (given up) or disabled (410: the endpoint is switched off).</param>
/// <param name="HttpStatus">The answer's status, if one came.</param>
/// <param name="Error">Why it failed.</param>
/// <param name="NextAttemptAt">When to try again, for <c>retry</c>.</param>
/// <param name="EndpointId">
/// The endpoint a <c>disabled</c> outcome switches off, as the claimed delivery named it: the delivery itself may be gone
/// by the time the answer comes (its task was deleted during the attempt), and the receiver's 410 still holds.
/// </param>
public sealed record WebhookAttempt(string Outcome, int? HttpStatus, string? Error, DateTimeOffset? NextAttemptAt, string? EndpointId = null);
