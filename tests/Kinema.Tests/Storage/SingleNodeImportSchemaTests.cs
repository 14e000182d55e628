using Kinema.Core;
using Kinema.Core.Storage.Postgres;
using Kinema.Core.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kinema.Tests.Storage;

/// <summary>
/// <c>kinema import</c> copies the tables it names, column by column as PostgreSQL has them. A later migration that adds
/// a table or a column to one provider and not the other, or a table the import does not name, would make it drop data
/// silently: this test fails first.
/// </summary>
public sealed class SingleNodeImportSchemaTests
{
    // PostgreSQL's own: the shared signing key (copied from signing.key), the rate windows (a minute's counts) and the
    // migration history.
    private static readonly string[] PostgresOnly = ["node_secrets", "rate_windows", "schema_migrations"];

    [Fact]
    public async Task Every_table_and_column_of_either_provider_is_copied()
    {
        using var directory = new TempDirectory();
        await using var sqlite = new SqliteDatabase(new KinemaPaths(directory.Path).Database, fullSync: false, NullLogger.Instance);
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        try
        {
            await using var postgres = new PostgresDatabase(connectionString);
            await postgres.EnsureSchemaAsync(CancellationToken.None);

            var sqliteTables = SqliteColumns(sqlite);
            var postgresTables = await PostgresColumnsAsync(postgres);

            sqliteTables.Keys.Should().BeEquivalentTo(SingleNodeImport.Tables, "every SQLite table is imported");
            postgresTables.Keys.Except(PostgresOnly).Should().BeEquivalentTo(SingleNodeImport.Tables, "every shared PostgreSQL table is filled");
            foreach (var table in SingleNodeImport.Tables)
            {
                postgresTables[table].Should().BeEquivalentTo(sqliteTables[table], $"{table} has the same columns on both providers");
            }
        }
        finally
        {
            await TestPostgres.DropDatabaseAsync(connectionString);
        }
    }

    private static Dictionary<string, List<string>> SqliteColumns(SqliteDatabase database)
    {
        using var connection = database.OpenRead();
        var tables = new Dictionary<string, List<string>>();
        using var list = connection.CreateCommand();
        list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
        using (var reader = list.ExecuteReader())
        {
            while (reader.Read())
            {
                tables[reader.GetString(0)] = [];
            }
        }

        foreach (var (table, columns) in tables)
        {
            using var describe = connection.CreateCommand();
            describe.CommandText = $"SELECT name FROM pragma_table_info('{table}')";
            using var reader = describe.ExecuteReader();
            while (reader.Read())
            {
                columns.Add(reader.GetString(0));
            }
        }

        return tables;
    }

    private static async Task<Dictionary<string, List<string>>> PostgresColumnsAsync(PostgresDatabase database)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()", connection);
        var tables = new Dictionary<string, List<string>>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var table = reader.GetString(0);
            if (!tables.TryGetValue(table, out var columns))
            {
                tables[table] = columns = [];
            }

            columns.Add(reader.GetString(1));
        }

        return tables;
    }
}
