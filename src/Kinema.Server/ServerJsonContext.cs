using System.Text.Json.Serialization;

namespace Kinema.Server;

/// <summary>Source-generated JSON for the server's own small bodies.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(Operations.ReadinessResponse))]
[JsonSerializable(typeof(Endpoints.WebhookSecretResponse))]
[JsonSerializable(typeof(Endpoints.CreateWebhookRequest))]
[JsonSerializable(typeof(Endpoints.WebhookCreatedResponse))]
[JsonSerializable(typeof(Endpoints.WebhookListResponse))]
[JsonSerializable(typeof(Endpoints.WebhookDeliveryListResponse))]
[JsonSerializable(typeof(Endpoints.TenantItem))]
[JsonSerializable(typeof(Endpoints.TenantListResponse))]
[JsonSerializable(typeof(Endpoints.KeyItem))]
[JsonSerializable(typeof(Endpoints.KeyListResponse))]
[JsonSerializable(typeof(Endpoints.AdminUsageResponse))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;
