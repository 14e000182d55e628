using System.Data.Common;
using Kinema.Core.Webhooks;

namespace Kinema.Core.Storage;

/// <summary>Reads webhook endpoint and delivery rows, which both providers keep in the same columns.</summary>
internal static class WebhookRows
{
    public const string DeliveryColumns = """
        d.id, d.tenant_id, d.task_id, d.endpoint_id, d.url, d.event_type, d.payload, d.status, d.attempts, d.next_attempt_at,
        d.last_status, d.last_error, d.created_at, d.delivered_at
        """;

    public const string EndpointColumns = "id, tenant_id, url, events, created_at, disabled_at, disabled_reason";

    public static WebhookEndpoint ReadEndpoint(DbDataReader reader) => new(
        reader.GetString(0), reader.GetString(1), reader.GetString(2),
        reader.GetString(3).Split(',', StringSplitOptions.RemoveEmptyEntries),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
        reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
        reader.IsDBNull(6) ? null : reader.GetString(6));

    public static WebhookDelivery ReadDelivery(DbDataReader reader) => new()
    {
        Id = reader.GetString(0),
        TenantId = reader.GetString(1),
        TaskId = reader.GetString(2),
        EndpointId = reader.IsDBNull(3) ? null : reader.GetString(3),
        Url = reader.GetString(4),
        EventType = reader.GetString(5),
        Payload = reader.GetString(6),
        Status = reader.GetString(7),
        Attempts = reader.GetInt32(8),
        NextAttemptAt = reader.IsDBNull(9) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9)),
        LastStatus = reader.IsDBNull(10) ? null : reader.GetInt32(10),
        LastError = reader.IsDBNull(11) ? null : reader.GetString(11),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(12)),
        DeliveredAt = reader.IsDBNull(13) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(13)),
    };
}
