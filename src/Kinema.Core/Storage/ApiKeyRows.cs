using System.Data.Common;
using Kinema.Core.Tenants;

namespace Kinema.Core.Storage;

/// <summary>API key rows, kept in the same columns by both providers.</summary>
internal static class ApiKeyRows
{
    public const string Columns = "id, tenant_id, name, key_prefix, created_at, revoked_at, is_admin, rpm";

    /// <summary>The record of a key about to be stored, with its time cut to the milliseconds a row keeps.</summary>
    public static ApiKeyRecord New(NewApiKey newKey, string key, DateTimeOffset now) => new(
        "key_" + Guid.CreateVersion7(now).ToString("N"),
        newKey.EffectiveTenantId,
        newKey.Name,
        ApiKeyFormat.DisplayPrefix(key),
        DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()),
        null,
        newKey.IsAdmin,
        newKey.RequestsPerMinute);

    public static ApiKeyRecord Read(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetString(3),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
        reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
        reader.GetBoolean(6),
        reader.IsDBNull(7) ? null : reader.GetInt32(7));
}
