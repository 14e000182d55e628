using System.Security.Cryptography;
using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>The signing key kept in the shared database: the first node to need it makes it, every node reads the same.</summary>
internal static class PostgresSigningKey
{
    public static SigningKey Create(PostgresDatabase database) => new(() =>
    {
        // Loaded once per process, at start-up (the key is needed to build the first signed URL); the blocking wait is
        // on a one-time read, never on a request's hot path afterwards.
        database.EnsureSchemaAsync(CancellationToken.None).GetAwaiter().GetResult();
        using var connection = database.DataSource.OpenConnection();
        using var command = new NpgsqlCommand("""
            INSERT INTO node_secrets (name, value) VALUES ('signing', @value) ON CONFLICT (name) DO NOTHING;
            SELECT value FROM node_secrets WHERE name = 'signing';
            """, connection);
        command.Parameters.AddWithValue("value", RandomNumberGenerator.GetBytes(32));
        return (byte[])command.ExecuteScalar()!;
    });
}
