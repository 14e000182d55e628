using Npgsql;

namespace Kinema;

/// <summary>
/// The PostgreSQL server that ./test starts for the run (tests/postgres.sh exports its connection string). Each test
/// that needs a database makes a fresh one in it, so tests never see each other's rows.
/// </summary>
internal static class TestPostgres
{
    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable("KINEMA_TEST_POSTGRES") is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                "KINEMA_TEST_POSTGRES is not set: run ./test, or `source tests/postgres.sh && start_test_postgres` first.");

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var name = "kt_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(ServerConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/>, closing whatever still uses it.</summary>
    public static async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(ServerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
