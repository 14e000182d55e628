using System.Data.Common;
using System.Text.Json;
using Kinema.Core.Tasks;

namespace Kinema.Core.Storage;

/// <summary>
/// Reads a task row in the column order of <see cref="Columns"/>. Both providers keep the same columns with the same
/// meaning (times as Unix milliseconds, request and result as JSON text), so one reader serves both.
/// </summary>
internal static class TaskRows
{
    public const string Columns = """
        id, tenant_id, model, engine, request_json, status, progress, created_at, updated_at, started_at,
        finished_at, error_code, error_message, result_json, attempts, lease_owner, lease_expires_at, idempotency_key,
        upstream_engine, upstream_account, upstream_id, next_poll_at, poll_errors, engine_history, cost, refunded
        """;

    /// <summary>The index of the first column after <see cref="Columns"/> (e.g. a request hash selected beside them).</summary>
    public const int Next = 26;

    public static List<TaskRecord> ReadAll(DbDataReader reader)
    {
        var tasks = new List<TaskRecord>();
        while (reader.Read())
        {
            tasks.Add(Read(reader));
        }

        return tasks;
    }

    public static TaskRecord Read(DbDataReader reader)
    {
        var request = JsonSerializer.Deserialize(reader.GetString(4), StoreJsonContext.Default.GenerationRequest)
                      ?? throw new InvalidOperationException("A stored request is empty.");
        return new TaskRecord
        {
            Id = reader.GetString(0),
            TenantId = reader.GetString(1),
            Model = reader.GetString(2),
            Engine = reader.GetString(3),
            Request = request,
            State = TaskStateNames.Parse(reader.GetString(5)),
            Progress = reader.GetInt32(6),
            CreatedAt = FromMilliseconds(reader.GetInt64(7)),
            UpdatedAt = FromMilliseconds(reader.GetInt64(8)),
            StartedAt = reader.IsDBNull(9) ? null : FromMilliseconds(reader.GetInt64(9)),
            FinishedAt = reader.IsDBNull(10) ? null : FromMilliseconds(reader.GetInt64(10)),
            Failure = reader.IsDBNull(11) ? null : new TaskFailure(reader.GetString(11), reader.GetString(12)),
            Result = reader.IsDBNull(13)
                ? null
                : JsonSerializer.Deserialize(reader.GetString(13), StoreJsonContext.Default.StoredResult),
            Attempts = reader.GetInt32(14),
            LeaseOwner = reader.IsDBNull(15) ? null : reader.GetString(15),
            LeaseExpiresAt = reader.IsDBNull(16) ? null : FromMilliseconds(reader.GetInt64(16)),
            IdempotencyKey = reader.IsDBNull(17) ? null : reader.GetString(17),
            SubmitIntentEngine = reader.IsDBNull(18) ? null : reader.GetString(18),
            Upstream = reader.IsDBNull(20) ? null : new Engines.UpstreamHandle(reader.GetString(18), reader.GetString(19), reader.GetString(20)),
            NextPollAt = reader.IsDBNull(21) ? null : FromMilliseconds(reader.GetInt64(21)),
            PollErrors = reader.GetInt32(22),
            EngineHistory = reader.IsDBNull(23) ? null : reader.GetString(23),
            Cost = reader.GetInt64(24),
            Refunded = reader.GetBoolean(25),
        };
    }

    public static DateTimeOffset FromMilliseconds(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    /// <summary>
    /// The query for one page of a tenant's list: keyset pagination on the id (ULIDs sort in creation order), so a page
    /// costs O(limit) through the (tenant_id, id) index however many tasks exist or arrive meanwhile. It asks for one
    /// row more than the page, which <see cref="Page"/> uses to tell whether more follow. Placeholders are
    /// <paramref name="marker"/> + name; <paramref name="parameter"/> receives each bare name with its value.
    /// </summary>
    public static string ListSql(string tenantId, TaskQuery query, char marker, Action<string, object> parameter)
    {
        var conditions = new List<string>();
        void Condition(string sql, string name, object value)
        {
            conditions.Add(sql + marker + name);
            parameter(name, value);
        }

        Condition("tenant_id = ", "tenant", tenantId);
        if (query.After is { } after)
        {
            Condition(query.Ascending ? "id > " : "id < ", "after", after);
        }

        if (query.State is { } state)
        {
            Condition("status = ", "status", state.ToWire());
        }

        if (query.Model is { } model)
        {
            Condition("model = ", "model", model);
        }

        if (query.CreatedAfter is { } createdAfter)
        {
            Condition("created_at > ", "created_after", createdAfter.ToUnixTimeMilliseconds());
        }

        parameter("limit", query.Limit + 1);
        return $"SELECT {Columns} FROM tasks WHERE {string.Join(" AND ", conditions)} ORDER BY id {(query.Ascending ? "ASC" : "DESC")} LIMIT {marker}limit";
    }

    /// <summary>The page from the rows <see cref="ListSql"/> selected.</summary>
    public static TaskPage Page(List<TaskRecord> tasks, TaskQuery query)
    {
        var hasMore = tasks.Count > query.Limit;
        if (hasMore)
        {
            tasks.RemoveAt(tasks.Count - 1);
        }

        return new TaskPage(tasks, hasMore, hasMore ? tasks[^1].Id : null);
    }
}
