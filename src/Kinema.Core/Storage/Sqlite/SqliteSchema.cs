using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>The schema, versioned with <c>PRAGMA user_version</c> so later releases can migrate forward.</summary>
internal static class SqliteSchema
{
    private const int CurrentVersion = 1;

    private const string Version1 = """
        CREATE TABLE IF NOT EXISTS tasks (
            id               TEXT PRIMARY KEY,
            tenant_id        TEXT NOT NULL,
            model            TEXT NOT NULL,
            engine           TEXT NOT NULL,
            request_json     TEXT NOT NULL,
            status           TEXT NOT NULL,
            progress         INTEGER NOT NULL DEFAULT 0,
            created_at       INTEGER NOT NULL,
            updated_at       INTEGER NOT NULL,
            started_at       INTEGER,
            finished_at      INTEGER,
            error_code       TEXT,
            error_message    TEXT,
            result_json      TEXT,
            attempts         INTEGER NOT NULL DEFAULT 0,
            lease_owner      TEXT,
            lease_expires_at INTEGER,
            idempotency_key  TEXT,
            request_hash     TEXT NOT NULL,
            upstream_engine  TEXT,
            upstream_account TEXT,
            upstream_id      TEXT,
            submit_intent_at INTEGER,
            next_poll_at     INTEGER,
            poll_errors      INTEGER NOT NULL DEFAULT 0,
            engine_history   TEXT,
            webhooks_enqueued INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_tasks_webhooks ON tasks(finished_at)
            WHERE webhooks_enqueued = 0 AND status IN ('completed', 'failed', 'cancelled');

        CREATE TABLE IF NOT EXISTS webhook_secrets (
            tenant_id   TEXT PRIMARY KEY,
            secret      TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS webhook_endpoints (
            id              TEXT PRIMARY KEY,
            tenant_id       TEXT NOT NULL,
            url             TEXT NOT NULL,
            events          TEXT NOT NULL,
            secret          TEXT NOT NULL,
            created_at      INTEGER NOT NULL,
            disabled_at     INTEGER,
            disabled_reason TEXT
        );
        CREATE INDEX IF NOT EXISTS ix_webhook_endpoints_tenant ON webhook_endpoints(tenant_id);
        CREATE TABLE IF NOT EXISTS webhook_deliveries (
            id              TEXT PRIMARY KEY,
            tenant_id       TEXT NOT NULL,
            task_id         TEXT NOT NULL,
            endpoint_id     TEXT,
            url             TEXT NOT NULL,
            event_type      TEXT NOT NULL,
            payload         TEXT NOT NULL,
            status          TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            last_status     INTEGER,
            last_error      TEXT,
            created_at      INTEGER NOT NULL,
            delivered_at    INTEGER
        );
        CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
        CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_tenant ON webhook_deliveries(tenant_id, id DESC);
        CREATE INDEX IF NOT EXISTS ix_tasks_polls ON tasks(next_poll_at) WHERE next_poll_at IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_tasks_pending ON tasks(created_at) WHERE status = 'pending';
        CREATE INDEX IF NOT EXISTS ix_tasks_leases ON tasks(lease_expires_at) WHERE status = 'processing';
        CREATE INDEX IF NOT EXISTS ix_tasks_tenant_id ON tasks(tenant_id, id DESC);
        CREATE UNIQUE INDEX IF NOT EXISTS ux_tasks_idempotency ON tasks(tenant_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;

        CREATE TABLE IF NOT EXISTS api_keys (
            id          TEXT PRIMARY KEY,
            tenant_id   TEXT NOT NULL,
            name        TEXT NOT NULL,
            key_hash    TEXT NOT NULL UNIQUE,
            key_prefix  TEXT NOT NULL,
            created_at  INTEGER NOT NULL,
            revoked_at  INTEGER
        );
        """;

    public static void Apply(SqliteConnection connection)
    {
        using var read = connection.CreateCommand();
        read.CommandText = "PRAGMA user_version;";
        var version = Convert.ToInt32(read.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (version > CurrentVersion)
        {
            throw new InvalidOperationException(
                $"The database was written by a newer Kinema (schema {version}; this build knows {CurrentVersion}).");
        }

        if (version < 1)
        {
            SqliteDatabase.Execute(connection, "BEGIN IMMEDIATE;");
            SqliteDatabase.Execute(connection, Version1);
            SqliteDatabase.Execute(connection, $"PRAGMA user_version={CurrentVersion};");
            SqliteDatabase.Execute(connection, "COMMIT;");
        }
    }
}
