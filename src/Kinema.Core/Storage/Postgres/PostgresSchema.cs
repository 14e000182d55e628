using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// Versioned migrations, applied on start under a transaction-scoped advisory lock: when several nodes start at once,
/// one applies them and the others wait, then find nothing left to do.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>An arbitrary constant naming Kinema's migration lock among the database's advisory locks.</summary>
    private const long MigrationLock = 0x4B494E454D41;

    // Times are Unix milliseconds (BIGINT) as in SQLite, so both providers share one row reader and the injected clock.
    // Ids sort with COLLATE "C": they are ULIDs, and byte order is creation order whatever the database's locale.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE tasks (
            id                TEXT COLLATE "C" PRIMARY KEY,
            tenant_id         TEXT NOT NULL,
            model             TEXT NOT NULL,
            engine            TEXT NOT NULL,
            request_json      TEXT NOT NULL,
            status            TEXT NOT NULL,
            progress          INTEGER NOT NULL DEFAULT 0,
            created_at        BIGINT NOT NULL,
            updated_at        BIGINT NOT NULL,
            started_at        BIGINT,
            finished_at       BIGINT,
            error_code        TEXT,
            error_message     TEXT,
            result_json       TEXT,
            attempts          INTEGER NOT NULL DEFAULT 0,
            lease_owner       TEXT,
            lease_expires_at  BIGINT,
            idempotency_key   TEXT,
            request_hash      TEXT NOT NULL,
            upstream_engine   TEXT,
            upstream_account  TEXT,
            upstream_id       TEXT,
            submit_intent_at  BIGINT,
            next_poll_at      BIGINT,
            poll_errors       INTEGER NOT NULL DEFAULT 0,
            engine_history    TEXT,
            webhooks_enqueued BOOLEAN NOT NULL DEFAULT FALSE
        );
        CREATE INDEX ix_tasks_webhooks ON tasks(finished_at)
            WHERE NOT webhooks_enqueued AND status IN ('completed', 'failed', 'cancelled');
        CREATE INDEX ix_tasks_polls ON tasks(next_poll_at) WHERE next_poll_at IS NOT NULL;
        CREATE INDEX ix_tasks_pending ON tasks(created_at) WHERE status = 'pending';
        CREATE INDEX ix_tasks_leases ON tasks(lease_expires_at) WHERE status = 'processing';
        CREATE INDEX ix_tasks_tenant_id ON tasks(tenant_id, id DESC);
        CREATE UNIQUE INDEX ux_tasks_idempotency ON tasks(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

        CREATE TABLE webhook_secrets (
            tenant_id TEXT PRIMARY KEY,
            secret    TEXT NOT NULL
        );
        CREATE TABLE webhook_endpoints (
            id              TEXT COLLATE "C" PRIMARY KEY,
            tenant_id       TEXT NOT NULL,
            url             TEXT NOT NULL,
            events          TEXT NOT NULL,
            secret          TEXT NOT NULL,
            created_at      BIGINT NOT NULL,
            disabled_at     BIGINT,
            disabled_reason TEXT
        );
        CREATE INDEX ix_webhook_endpoints_tenant ON webhook_endpoints(tenant_id);
        CREATE TABLE webhook_deliveries (
            id              TEXT COLLATE "C" PRIMARY KEY,
            tenant_id       TEXT NOT NULL,
            task_id         TEXT NOT NULL,
            endpoint_id     TEXT,
            url             TEXT NOT NULL,
            event_type      TEXT NOT NULL,
            payload         TEXT NOT NULL,
            status          TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at BIGINT,
            last_status     INTEGER,
            last_error      TEXT,
            created_at      BIGINT NOT NULL,
            delivered_at    BIGINT
        );
        CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
        CREATE INDEX ix_webhook_deliveries_tenant ON webhook_deliveries(tenant_id, id DESC);

        CREATE TABLE api_keys (
            id          TEXT COLLATE "C" PRIMARY KEY,
            tenant_id   TEXT NOT NULL,
            name        TEXT NOT NULL,
            key_hash    TEXT NOT NULL UNIQUE,
            key_prefix  TEXT NOT NULL,
            created_at  BIGINT NOT NULL,
            revoked_at  BIGINT
        );

        CREATE TABLE node_secrets (
            name   TEXT PRIMARY KEY,
            value  BYTEA NOT NULL
        );
        """,
        // Billing: a task's cost and whether it was refunded; tenants with balances (a CHECK keeps them at zero or
        // above whatever the code does); the append-only ledger; admin keys and per-key rate limits. Every existing
        // key's tenant gets an account (balance 0), so credits can be granted to it.
        """
        ALTER TABLE tasks ADD COLUMN cost BIGINT NOT NULL DEFAULT 0,
                          ADD COLUMN key_id TEXT,
                          ADD COLUMN refunded BOOLEAN NOT NULL DEFAULT FALSE;
        CREATE INDEX ix_tasks_in_flight ON tasks(tenant_id) WHERE status IN ('pending', 'processing');

        ALTER TABLE api_keys ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE,
                             ADD COLUMN rpm INTEGER;

        CREATE TABLE tenants (
            id            TEXT PRIMARY KEY,
            balance       BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
            max_in_flight INTEGER,
            created_at    BIGINT NOT NULL
        );
        INSERT INTO tenants (id, balance, created_at)
            SELECT tenant_id, 0, MIN(created_at) FROM api_keys GROUP BY tenant_id;

        CREATE TABLE ledger (
            id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id     TEXT NOT NULL,
            key_id        TEXT,
            task_id       TEXT,
            kind          TEXT NOT NULL,
            amount        BIGINT NOT NULL,
            balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
            note          TEXT,
            created_at    BIGINT NOT NULL
        );
        CREATE INDEX ix_ledger_tenant ON ledger(tenant_id, id DESC);
        -- The database itself refuses a second charge or a second refund of one task.
        CREATE UNIQUE INDEX ux_ledger_charge ON ledger(task_id) WHERE kind = 'charge';
        CREATE UNIQUE INDEX ux_ledger_refund ON ledger(task_id) WHERE kind = 'refund';
        CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$;
        CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
            FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
        """,
        // Deleting a task withdraws its webhook deliveries: found by task, not by scanning the outbox.
        """
        CREATE INDEX ix_webhook_deliveries_task ON webhook_deliveries(task_id);
        """,
        // Each key's request window, shared by every node so a key's limit holds across them (RateWindow). Unlogged:
        // the counts are worth a minute, so they are not worth a WAL record and an fsync per take; a crash empties the
        // table, which gives every key a fresh minute, as a restart of a single node always has.
        """
        CREATE UNLOGGED TABLE rate_windows (
            key_id  TEXT PRIMARY KEY,
            segment BIGINT NOT NULL,
            counts  INTEGER[] NOT NULL
        );
        """,
    ];

    /// <summary>The schema version this build writes.</summary>
    public static int CurrentVersion => Migrations.Length;

    public static async Task ApplyAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(connection, $"SELECT pg_advisory_xact_lock({MigrationLock})", cancellationToken);
        await ExecuteAsync(connection, """
            CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """, cancellationToken);
        await using var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", connection);
        var version = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        if (version > CurrentVersion)
        {
            throw new StoreSchemaTooNewException(version, CurrentVersion);
        }

        for (var next = version + 1; next <= CurrentVersion; next++)
        {
            await ExecuteAsync(connection, Migrations[next - 1], cancellationToken);
            await ExecuteAsync(connection, $"INSERT INTO schema_migrations (version) VALUES ({next})", cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    internal static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
