using Kinema.Core.Tasks;
using Kinema.Core.Webhooks;
using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>Webhooks in the same SQLite file, so announcing a finished task is one transaction with marking it announced.</summary>
internal sealed class SqliteWebhookStore(SqliteDatabase database, TimeProvider time) : IWebhookStore
{
    public async Task<string> GetOrCreateTenantSecretAsync(string tenantId, CancellationToken cancellationToken)
    {
        var secret = WebhookSignature.NewSecret();
        return await database.WriteAsync(connection =>
        {
            using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT OR IGNORE INTO webhook_secrets (tenant_id, secret) VALUES ($tenant, $secret)";
            insert.Parameters.AddWithValue("$tenant", tenantId);
            insert.Parameters.AddWithValue("$secret", secret);
            insert.ExecuteNonQuery();
            return TenantSecret(connection, tenantId)!;
        }, cancellationToken);
    }

    public Task<(WebhookEndpoint Endpoint, string Secret)?> AddEndpointAsync(
        string tenantId, string url, IReadOnlyList<string> events, int maxPerTenant, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var endpoint = new WebhookEndpoint("wh_" + TaskIds.New(now)[TaskIds.Prefix.Length..], tenantId, url, events,
            DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()), null, null);
        var secret = WebhookSignature.NewSecret();
        return database.WriteAsync<(WebhookEndpoint Endpoint, string Secret)?>(connection =>
        {
            // One statement: SQLite runs writes one at a time, so the count cannot change between it and the insert.
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at)
                SELECT $id, $tenant, $url, $events, $secret, $now
                WHERE (SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = $tenant) < $max
                """;
            command.Parameters.AddWithValue("$max", maxPerTenant);
            command.Parameters.AddWithValue("$id", endpoint.Id);
            command.Parameters.AddWithValue("$tenant", tenantId);
            command.Parameters.AddWithValue("$url", url);
            command.Parameters.AddWithValue("$events", string.Join(',', events));
            command.Parameters.AddWithValue("$secret", secret);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            return command.ExecuteNonQuery() == 1 ? (endpoint, secret) : null;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<WebhookEndpoint>> ListEndpointsAsync(string tenantId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        return Task.FromResult<IReadOnlyList<WebhookEndpoint>>(ReadEndpoints(connection, tenantId));
    }

    public Task<bool> RemoveEndpointAsync(string tenantId, string endpointId, CancellationToken cancellationToken) =>
        database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM webhook_endpoints WHERE id = $id AND tenant_id = $tenant";
            command.Parameters.AddWithValue("$id", endpointId);
            command.Parameters.AddWithValue("$tenant", tenantId);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    public Task<int> EnqueueFinishedTasksAsync(int max, Func<TaskRecord, string> payload, CancellationToken cancellationToken) =>
        // Look on a reader first: the dispatcher asks after every change, and the single writer must not pay for "nothing to do".
        !Exists("SELECT 1 FROM tasks WHERE webhooks_enqueued = 0 AND status IN ('completed', 'failed', 'cancelled') LIMIT 1")
            ? Task.FromResult(0)
            : database.WriteAsync(connection =>
        {
            var finished = new List<TaskRecord>();
            using (var select = connection.CreateCommand())
            {
                select.CommandText = $"""
                    SELECT {SqliteTaskStore.Columns} FROM tasks
                    WHERE webhooks_enqueued = 0 AND status IN ('completed', 'failed', 'cancelled')
                    ORDER BY finished_at LIMIT $max
                    """;
                select.Parameters.AddWithValue("$max", max);
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    finished.Add(SqliteTaskStore.ReadRecord(reader));
                }
            }

            var now = time.GetUtcNow();
            var made = 0;
            foreach (var task in finished)
            {
                foreach (var (endpointId, url, eventType, body) in WebhookEventPlan.For(task, ReadEndpoints(connection, task.TenantId), payload, now))
                {
                    using var insert = connection.CreateCommand();
                    insert.CommandText = """
                        INSERT INTO webhook_deliveries (id, tenant_id, task_id, endpoint_id, url, event_type, payload, status, next_attempt_at, created_at)
                        VALUES ($id, $tenant, $task, $endpoint, $url, $type, $payload, 'pending', $now, $now)
                        """;
                    insert.Parameters.AddWithValue("$id", "msg_" + TaskIds.New(now)[TaskIds.Prefix.Length..]);
                    insert.Parameters.AddWithValue("$tenant", task.TenantId);
                    insert.Parameters.AddWithValue("$task", task.Id);
                    insert.Parameters.AddWithValue("$endpoint", (object?)endpointId ?? DBNull.Value);
                    insert.Parameters.AddWithValue("$url", url);
                    insert.Parameters.AddWithValue("$type", eventType);
                    insert.Parameters.AddWithValue("$payload", body);
                    insert.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
                    insert.ExecuteNonQuery();
                    made++;
                }

                using var mark = connection.CreateCommand();
                mark.CommandText = "UPDATE tasks SET webhooks_enqueued = 1 WHERE id = $id";
                mark.Parameters.AddWithValue("$id", task.Id);
                mark.ExecuteNonQuery();
            }

            return made;
        }, cancellationToken);

    public Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(int max, TimeSpan claimFor, CancellationToken cancellationToken) =>
        !Exists($"SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= {time.GetUtcNow().ToUnixTimeMilliseconds()} LIMIT 1")
            ? Task.FromResult<IReadOnlyList<WebhookDelivery>>([])
            : database.WriteAsync<IReadOnlyList<WebhookDelivery>>(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var due = new List<WebhookDelivery>();
            using (var select = connection.CreateCommand())
            {
                select.CommandText = $"""
                    SELECT {WebhookRows.DeliveryColumns}, COALESCE(e.secret, s.secret)
                    FROM webhook_deliveries d
                    LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
                    LEFT JOIN webhook_secrets s ON s.tenant_id = d.tenant_id
                    WHERE d.status = 'pending' AND d.next_attempt_at <= $now
                    ORDER BY d.next_attempt_at LIMIT $max
                    """;
                select.Parameters.AddWithValue("$now", now);
                select.Parameters.AddWithValue("$max", max);
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    due.Add(WebhookRows.ReadDelivery(reader) with { Secret = reader.IsDBNull(14) ? null : reader.GetString(14) });
                }
            }

            foreach (var delivery in due)
            {
                using var claim = connection.CreateCommand();
                claim.CommandText = "UPDATE webhook_deliveries SET next_attempt_at = $until WHERE id = $id";
                claim.Parameters.AddWithValue("$until", now + (long)claimFor.TotalMilliseconds);
                claim.Parameters.AddWithValue("$id", delivery.Id);
                claim.ExecuteNonQuery();
            }

            // A tenant that never asked for its secret still gets signed callbacks: make one now.
            foreach (var tenant in due.Where(d => d.Secret is null).Select(d => d.TenantId).Distinct())
            {
                using var insert = connection.CreateCommand();
                insert.CommandText = "INSERT OR IGNORE INTO webhook_secrets (tenant_id, secret) VALUES ($tenant, $secret)";
                insert.Parameters.AddWithValue("$tenant", tenant);
                insert.Parameters.AddWithValue("$secret", WebhookSignature.NewSecret());
                insert.ExecuteNonQuery();
            }

            return due.Select(d => d.Secret is null ? d with { Secret = TenantSecret(connection, d.TenantId) } : d).ToList();
        }, cancellationToken);

    public Task RecordAttemptAsync(string deliveryId, WebhookAttempt attempt, CancellationToken cancellationToken) =>
        database.WriteAsync(connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE webhook_deliveries
                SET attempts = attempts + 1, last_status = $status, last_error = $error,
                    status = CASE $outcome WHEN 'retry' THEN 'pending' ELSE $outcome END,
                    next_attempt_at = $next, delivered_at = CASE $outcome WHEN 'delivered' THEN $now ELSE delivered_at END
                WHERE id = $id
                """;
            command.Parameters.AddWithValue("$status", (object?)attempt.HttpStatus ?? DBNull.Value);
            command.Parameters.AddWithValue("$error", (object?)attempt.Error ?? DBNull.Value);
            command.Parameters.AddWithValue("$outcome", attempt.Outcome);
            command.Parameters.AddWithValue("$next", attempt.NextAttemptAt is { } next ? next.ToUnixTimeMilliseconds() : DBNull.Value);
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$id", deliveryId);
            command.ExecuteNonQuery();
            if (attempt.Outcome == "disabled")
            {
                // 410 Gone: the receiver asks never to be called again.
                using var disable = connection.CreateCommand();
                disable.CommandText = """
                    UPDATE webhook_endpoints SET disabled_at = $now, disabled_reason = '410 Gone from the receiver'
                    WHERE id = COALESCE($endpoint, (SELECT endpoint_id FROM webhook_deliveries WHERE id = $id))
                    """;
                disable.Parameters.AddWithValue("$endpoint", (object?)attempt.EndpointId ?? DBNull.Value);
                disable.Parameters.AddWithValue("$now", now);
                disable.Parameters.AddWithValue("$id", deliveryId);
                disable.ExecuteNonQuery();
            }

            return true;
        }, cancellationToken);

    public Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string tenantId, int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {WebhookRows.DeliveryColumns} FROM webhook_deliveries d WHERE d.tenant_id = $tenant ORDER BY d.id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$tenant", tenantId);
        command.Parameters.AddWithValue("$limit", limit);
        using var reader = command.ExecuteReader();
        var list = new List<WebhookDelivery>();
        while (reader.Read())
        {
            list.Add(WebhookRows.ReadDelivery(reader));
        }

        return Task.FromResult<IReadOnlyList<WebhookDelivery>>(list);
    }

    public Task<bool> ReplayAsync(string tenantId, string deliveryId, CancellationToken cancellationToken) =>
        database.WriteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $now, attempts = 0
                WHERE id = $id AND tenant_id = $tenant
                """;
            command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$id", deliveryId);
            command.Parameters.AddWithValue("$tenant", tenantId);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    private bool Exists(string sql)
    {
        using var connection = database.OpenRead();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar() is not null;
    }

    private static string? TenantSecret(SqliteConnection connection, string tenantId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT secret FROM webhook_secrets WHERE tenant_id = $tenant";
        command.Parameters.AddWithValue("$tenant", tenantId);
        return command.ExecuteScalar() as string;
    }

    private static List<WebhookEndpoint> ReadEndpoints(SqliteConnection connection, string tenantId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {WebhookRows.EndpointColumns}
            FROM webhook_endpoints WHERE tenant_id = $tenant ORDER BY created_at
            """;
        command.Parameters.AddWithValue("$tenant", tenantId);
        using var reader = command.ExecuteReader();
        var endpoints = new List<WebhookEndpoint>();
        while (reader.Read())
        {
            endpoints.Add(WebhookRows.ReadEndpoint(reader));
        }

        return endpoints;
    }
}
