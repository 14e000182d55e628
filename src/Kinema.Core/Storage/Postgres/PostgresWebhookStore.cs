using Kinema.Core.Tasks;
using Kinema.Core.Webhooks;
using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// Webhooks in PostgreSQL. Announcing finished tasks and claiming due deliveries lock their rows with
/// <c>SKIP LOCKED</c>, so with several nodes each event is enqueued once and each delivery is sent by one node.
/// </summary>
internal sealed class PostgresWebhookStore(PostgresDatabase database, TimeProvider time) : IWebhookStore
{
    public async Task<string> GetOrCreateTenantSecretAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await EnsureTenantSecretAsync(connection, tenantId, cancellationToken);
    }

    public async Task<(WebhookEndpoint Endpoint, string Secret)?> AddEndpointAsync(
        string tenantId, string url, IReadOnlyList<string> events, int maxPerTenant, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var endpoint = new WebhookEndpoint("wh_" + TaskIds.New(now)[TaskIds.Prefix.Length..], tenantId, url, events,
            DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()), null, null);
        var secret = WebhookSignature.NewSecret();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Under READ COMMITTED two nodes could both count one below the cap and both insert: a lock per tenant, held to
        // the commit, puts the second count after the first insert.
        await using (var tenantLock = new NpgsqlCommand(
                         "SELECT pg_advisory_xact_lock(hashtextextended('kinema.webhook_endpoints:' || @tenant, 0))", connection, transaction))
        {
            tenantLock.Parameters.AddWithValue("tenant", tenantId);
            await tenantLock.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var command = new NpgsqlCommand("""
            INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at)
            SELECT @id, @tenant, @url, @events, @secret, @now
            WHERE (SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = @tenant) < @max
            """, connection, transaction);
        command.Parameters.AddWithValue("max", maxPerTenant);
        command.Parameters.AddWithValue("id", endpoint.Id);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("url", url);
        command.Parameters.AddWithValue("events", string.Join(',', events));
        command.Parameters.AddWithValue("secret", secret);
        command.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
        var added = await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return added == 1 ? (endpoint, secret) : null;
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListEndpointsAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await ReadEndpointsAsync(connection, tenantId, cancellationToken);
    }

    public async Task<bool> RemoveEndpointAsync(string tenantId, string endpointId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("DELETE FROM webhook_endpoints WHERE id = @id AND tenant_id = @tenant", connection);
        command.Parameters.AddWithValue("id", endpointId);
        command.Parameters.AddWithValue("tenant", tenantId);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<int> EnqueueFinishedTasksAsync(int max, Func<TaskRecord, string> payload, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        List<TaskRecord> finished;
        await using (var select = new NpgsqlCommand($"""
            SELECT {TaskRows.Columns} FROM tasks
            WHERE NOT webhooks_enqueued AND status IN ('completed', 'failed', 'cancelled')
            ORDER BY finished_at LIMIT @max FOR UPDATE SKIP LOCKED
            """, connection, transaction))
        {
            select.Parameters.AddWithValue("max", max);
            finished = await PostgresTaskStore.ReadAllAsync(select, cancellationToken);
        }

        if (finished.Count == 0)
        {
            return 0;
        }

        var now = time.GetUtcNow();
        var endpointsByTenant = new Dictionary<string, List<WebhookEndpoint>>(StringComparer.Ordinal);
        var batch = new NpgsqlBatch(connection, transaction);
        var made = 0;
        foreach (var task in finished)
        {
            if (!endpointsByTenant.TryGetValue(task.TenantId, out var endpoints))
            {
                endpoints = await ReadEndpointsAsync(connection, task.TenantId, cancellationToken);
                endpointsByTenant[task.TenantId] = endpoints;
            }

            foreach (var (endpointId, url, eventType, body) in WebhookEventPlan.For(task, endpoints, payload, now))
            {
                var insert = new NpgsqlBatchCommand("""
                    INSERT INTO webhook_deliveries (id, tenant_id, task_id, endpoint_id, url, event_type, payload, status, next_attempt_at, created_at)
                    VALUES (@id, @tenant, @task, @endpoint, @url, @type, @payload, 'pending', @now, @now)
                    """);
                insert.Parameters.AddWithValue("id", "msg_" + TaskIds.New(now)[TaskIds.Prefix.Length..]);
                insert.Parameters.AddWithValue("tenant", task.TenantId);
                insert.Parameters.AddWithValue("task", task.Id);
                insert.Parameters.AddWithValue("endpoint", (object?)endpointId ?? DBNull.Value);
                insert.Parameters.AddWithValue("url", url);
                insert.Parameters.AddWithValue("type", eventType);
                insert.Parameters.AddWithValue("payload", body);
                insert.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
                batch.BatchCommands.Add(insert);
                made++;
            }
        }

        var mark = new NpgsqlBatchCommand("UPDATE tasks SET webhooks_enqueued = TRUE WHERE id = ANY(@ids)");
        mark.Parameters.AddWithValue("ids", finished.Select(t => t.Id).ToArray());
        batch.BatchCommands.Add(mark);
        await using (batch)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return made;
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(int max, TimeSpan claimFor, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var due = new List<WebhookDelivery>();
        await using (var select = new NpgsqlCommand($"""
            SELECT {WebhookRows.DeliveryColumns}, COALESCE(e.secret, s.secret)
            FROM webhook_deliveries d
            LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
            LEFT JOIN webhook_secrets s ON s.tenant_id = d.tenant_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= @now
            ORDER BY d.next_attempt_at LIMIT @max
            FOR UPDATE OF d SKIP LOCKED
            """, connection, transaction))
        {
            select.Parameters.AddWithValue("now", now);
            select.Parameters.AddWithValue("max", max);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add(WebhookRows.ReadDelivery(reader) with { Secret = reader.IsDBNull(14) ? null : reader.GetString(14) });
            }
        }

        if (due.Count == 0)
        {
            return due;
        }

        await using (var claim = new NpgsqlCommand("UPDATE webhook_deliveries SET next_attempt_at = @until WHERE id = ANY(@ids)", connection, transaction))
        {
            claim.Parameters.AddWithValue("until", now + (long)claimFor.TotalMilliseconds);
            claim.Parameters.AddWithValue("ids", due.Select(d => d.Id).ToArray());
            await claim.ExecuteNonQueryAsync(cancellationToken);
        }

        // A tenant that never asked for its secret still gets signed callbacks: make one now.
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tenant in due.Where(d => d.Secret is null).Select(d => d.TenantId).Distinct())
        {
            secrets[tenant] = await EnsureTenantSecretAsync(connection, tenant, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return due.Select(d => d.Secret is null ? d with { Secret = secrets[d.TenantId] } : d).ToList();
    }

    public async Task RecordAttemptAsync(string deliveryId, WebhookAttempt attempt, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        var update = new NpgsqlBatchCommand("""
            UPDATE webhook_deliveries
            SET attempts = attempts + 1, last_status = @status, last_error = @error,
                status = CASE @outcome WHEN 'retry' THEN 'pending' ELSE @outcome END,
                next_attempt_at = @next, delivered_at = CASE @outcome WHEN 'delivered' THEN @now ELSE delivered_at END
            WHERE id = @id
            """);
        update.Parameters.AddWithValue("status", NpgsqlTypes.NpgsqlDbType.Integer, (object?)attempt.HttpStatus ?? DBNull.Value);
        update.Parameters.AddWithValue("error", NpgsqlTypes.NpgsqlDbType.Text, (object?)attempt.Error ?? DBNull.Value);
        update.Parameters.AddWithValue("outcome", attempt.Outcome);
        update.Parameters.AddWithValue("next", NpgsqlTypes.NpgsqlDbType.Bigint,
            attempt.NextAttemptAt is { } next ? next.ToUnixTimeMilliseconds() : DBNull.Value);
        update.Parameters.AddWithValue("now", now);
        update.Parameters.AddWithValue("id", deliveryId);
        batch.BatchCommands.Add(update);
        if (attempt.Outcome == "disabled")
        {
            // 410 Gone: the receiver asks never to be called again.
            var disable = new NpgsqlBatchCommand("""
                UPDATE webhook_endpoints SET disabled_at = @now, disabled_reason = '410 Gone from the receiver'
                WHERE id = COALESCE(@endpoint, (SELECT endpoint_id FROM webhook_deliveries WHERE id = @id))
                """);
            disable.Parameters.AddWithValue("endpoint", NpgsqlTypes.NpgsqlDbType.Text, (object?)attempt.EndpointId ?? DBNull.Value);
            disable.Parameters.AddWithValue("now", now);
            disable.Parameters.AddWithValue("id", deliveryId);
            batch.BatchCommands.Add(disable);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string tenantId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"SELECT {WebhookRows.DeliveryColumns} FROM webhook_deliveries d WHERE d.tenant_id = @tenant ORDER BY d.id DESC LIMIT @limit", connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<WebhookDelivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(WebhookRows.ReadDelivery(reader));
        }

        return list;
    }

    public async Task<bool> ReplayAsync(string tenantId, string deliveryId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = @now, attempts = 0
            WHERE id = @id AND tenant_id = @tenant
            """, connection);
        command.Parameters.AddWithValue("now", time.GetUtcNow().ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("id", deliveryId);
        command.Parameters.AddWithValue("tenant", tenantId);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    private static async Task<string> EnsureTenantSecretAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            INSERT INTO webhook_secrets (tenant_id, secret) VALUES (@tenant, @secret) ON CONFLICT (tenant_id) DO NOTHING;
            SELECT secret FROM webhook_secrets WHERE tenant_id = @tenant;
            """, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("secret", WebhookSignature.NewSecret());
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<List<WebhookEndpoint>> ReadEndpointsAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"""
            SELECT {WebhookRows.EndpointColumns}
            FROM webhook_endpoints WHERE tenant_id = @tenant ORDER BY created_at
            """, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var endpoints = new List<WebhookEndpoint>();
        while (await reader.ReadAsync(cancellationToken))
        {
            endpoints.Add(WebhookRows.ReadEndpoint(reader));
        }

        return endpoints;
    }
}
