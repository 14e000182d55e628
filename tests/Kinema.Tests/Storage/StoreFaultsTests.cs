using Kinema.Core.Storage;
using Kinema.Testing;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Kinema.Tests.Storage;

/// <summary>Outages told from bugs, on faults raised for real by the two drivers.</summary>
public sealed class StoreFaultsTests
{
    [Fact]
    public async Task A_postgres_server_that_is_not_there_is_an_outage_with_its_cause_in_one_line()
    {
        await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={LoopbackPorts.Free()};Username=x;Password=y;Timeout=2");

        var failure = await Assert.ThrowsAnyAsync<NpgsqlException>(() => connection.OpenAsync());

        StoreFaults.IsUnreachable(failure).Should().BeTrue();
        StoreFaults.Reason(failure).Should().Contain("refused").And.NotContain("\n");
    }

    [Fact]
    public async Task A_missing_postgres_database_is_a_setting_to_fix_but_a_broken_constraint_is_a_bug_shown_whole()
    {
        var missing = new NpgsqlConnectionStringBuilder(TestPostgres.ServerConnectionString) { Database = "kt_not_there_" + Guid.NewGuid().ToString("N")[..8] };
        await using var wrongDatabase = new NpgsqlConnection(missing.ConnectionString);
        var noDatabase = await Assert.ThrowsAsync<PostgresException>(() => wrongDatabase.OpenAsync());

        await using var connection = new NpgsqlConnection(TestPostgres.ServerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("CREATE TEMP TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1);", connection);
        var duplicate = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());

        noDatabase.SqlState.Should().Be("3D000");
        KinemaDataStore.DescribeFailure(noDatabase).Should().Contain(missing.Database).And.NotContain("\n");
        duplicate.SqlState.Should().Be("23505");
        KinemaDataStore.DescribeFailure(duplicate).Should().BeNull("a broken constraint is a bug, not an unreachable store");
        KinemaDataStore.DescribeFailure(new InvalidOperationException("a bug")).Should().BeNull();
    }

    [Fact]
    public void A_sqlite_file_locked_by_another_writer_is_an_outage_but_a_broken_constraint_is_not()
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "faults.db");
        using var holder = new SqliteConnection($"Data Source={path};Pooling=false");
        holder.Open();
        Execute(holder, "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1); BEGIN IMMEDIATE; INSERT INTO t VALUES (2);");
        using var other = new SqliteConnection($"Data Source={path};Pooling=false;Default Timeout=1");
        other.Open();

        var busy = Assert.Throws<SqliteException>(() => Execute(other, "INSERT INTO t VALUES (3);"));
        var duplicate = Assert.Throws<SqliteException>(() => Execute(holder, "INSERT INTO t VALUES (1);"));

        StoreFaults.IsUnreachable(busy).Should().BeTrue(busy.Message);
        StoreFaults.IsUnreachable(duplicate).Should().BeFalse(duplicate.Message);
        StoreFaults.IsUnreachable(new InvalidOperationException("a bug", new IOException("not the store"))).Should().BeFalse();
        StoreFaults.IsUnreachable(new AggregateException(new InvalidOperationException(), busy)).Should().BeTrue();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
