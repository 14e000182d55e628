using Microsoft.Data.Sqlite;

namespace Kinema.Core.Storage.Sqlite;

/// <summary>The schema, versioned with <c>PRAGMA user_version</c> so later releases can migrate forward.</summary>
internal static class SqliteSchema
{
    private const int CurrentVersion = 3;

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

    // Billing: a task's cost and whether it was refunded; tenants with balances; the append-only ledger; admin keys and
    // per-key rate limits. Every existing key's tenant gets an account (balance 0), so credits can be granted to it.
    private const string Version2 = """
        ALTER TABLE tasks ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tasks ADD COLUMN key_id TEXT;
        ALTER TABLE tasks ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS ix_tasks_in_flight ON tasks(tenant_id) WHERE status IN ('pending', 'processing');

        ALTER TABLE api_keys ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE api_keys ADD COLUMN rpm INTEGER;

        CREATE TABLE IF NOT EXISTS tenants (
            id            TEXT PRIMARY KEY,
            balance       INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
            max_in_flight INTEGER,
            created_at    INTEGER NOT NULL
        );
        INSERT OR IGNORE INTO tenants (id, balance, created_at)
            SELECT tenant_id, 0, MIN(created_at) FROM api_keys GROUP BY tenant_id;

        CREATE TABLE IF NOT EXISTS ledger (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant_id     TEXT NOT NULL,
            key_id        TEXT,
            task_id       TEXT,
            kind          TEXT NOT NULL,
            amount        INTEGER NOT NULL,
            balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
            note          TEXT,
            created_at    INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_ledger_tenant ON ledger(tenant_id, id DESC);
        -- The database itself refuses a second charge or a second refund of one task.
        CREATE UNIQUE INDEX IF NOT EXISTS ux_ledger_charge ON ledger(task_id) WHERE kind = 'charge';
        CREATE UNIQUE INDEX IF NOT EXISTS ux_ledger_refund ON ledger(task_id) WHERE kind = 'refund';
        CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        """;

    // Deleting a task withdraws its webhook deliveries: found by task, not by scanning the outbox.
    private const string Version3 = """
        CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_task ON webhook_deliveries(task_id);
        """;

    public static void Apply(SqliteConnection connection)
    {
        using var read = connection.CreateCommand();
        read.CommandText = "PRAGMA user_version;";
        var version = Convert.ToInt32(read.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (version > CurrentVersion)
        {
            throw new StoreSchemaTooNewException(version, CurrentVersion);
        }

        if (version < 1)
        {
            SqliteDatabase.Execute(connection, "BEGIN IMMEDIATE;");
            SqliteDatabase.Execute(connection, Version1);
            SqliteDatabase.Execute(connection, "PRAGMA user_version=1;");
            SqliteDatabase.Execute(connection, "COMMIT;");
        }

        if (version < 2)
        {
            SqliteDatabase.Execute(connection, "BEGIN IMMEDIATE;");
            SqliteDatabase.Execute(connection, Version2);
            SqliteDatabase.Execute(connection, "PRAGMA user_version=2;");
            SqliteDatabase.Execute(connection, "COMMIT;");
        }

        if (version < 3)
        {
            SqliteDatabase.Execute(connection, "BEGIN IMMEDIATE;");
            SqliteDatabase.Execute(connection, Version3);
            SqliteDatabase.Execute(connection, "PRAGMA user_version=3;");
            SqliteDatabase.Execute(connection, "COMMIT;");
        }
    }
}
