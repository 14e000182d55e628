using Kinema.Contracts.Requests;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Kinema.Tests.Tasks;

public sealed class SqliteTaskStoreTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private SqliteDatabase _database = null!;
    private SqliteTaskStore _store = null!;

    public ValueTask InitializeAsync()
    {
        _database = new SqliteDatabase(new KinemaPaths(_directory.Path).Database, fullSync: false, NullLogger.Instance);
        _store = new SqliteTaskStore(_database, _time, new TaskStoreOptions { MaxAttempts = 3 });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _database.DisposeAsync();
        _directory.Dispose();
    }

    private static NewTask NewTask(string tenant = "t1", string? key = null, string prompt = "a cat", string hash = "h1") =>
        new(tenant, "animatic", new GenerationRequest { Model = ModelNames.KlingV3, Prompt = prompt }, key, hash);

    [Fact]
    public async Task Task_ids_are_prefixed_ulids()
    {
        var outcome = await _store.CreateAsync(NewTask(), CancellationToken.None);

        outcome.Task!.Id.Should().MatchRegex("^task_[0-9A-HJKMNP-TV-Z]{26}$");
        TaskIds.IsWellFormed(outcome.Task.Id).Should().BeTrue();
        TaskIds.IsWellFormed("task_../../etc/passwd").Should().BeFalse();
    }

    [Fact]
    public void Ids_made_in_the_same_millisecond_sort_in_creation_order()
    {
        var now = DateTimeOffset.UtcNow.AddDays(1);
        var ids = Enumerable.Range(0, 1000).Select(_ => TaskIds.New(now)).ToList();

        ids.Should().BeInAscendingOrder(StringComparer.Ordinal).And.OnlyHaveUniqueItems();
    }

    [Fact]
    public async Task Release_puts_the_task_back_and_recovery_expires_orphaned_leases()
    {
        var id = (await _store.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await _store.ClaimNextAsync("w1", Lease, CancellationToken.None);
        (await _store.ReleaseAsync(id, "w1", CancellationToken.None)).Should().BeTrue();
        (await _store.GetAsync("t1", id, CancellationToken.None))!.State.Should().Be(TaskState.Pending);

        await _store.ClaimNextAsync("w1", Lease, CancellationToken.None);
        (await _store.RecoverOrphanedLeasesAsync(CancellationToken.None)).Should().Be(1);
        (await _store.ClaimNextAsync("w2", Lease, CancellationToken.None))!.Id.Should().Be(id);
    }

    [Fact]
    public async Task One_failing_write_does_not_undo_the_rest_of_its_batch()
    {
        var good = Enumerable.Range(0, 50).Select(i => _store.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None)).ToList();
        var bad = _database.WriteAsync<int>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO no_such_table VALUES (1)";
            return command.ExecuteNonQuery();
        }, CancellationToken.None);

        await Task.WhenAll(good);
        var act = async () => await bad;
        await act.Should().ThrowAsync<Microsoft.Data.Sqlite.SqliteException>();
        await using var reopened = KinemaDataStore.Open(new KinemaPaths(_directory.Path));
        (await reopened.CountAsync("1 = 1")).Should().Be(50);
    }

    [Fact]
    public async Task A_write_whose_code_throws_fails_alone_and_the_writer_keeps_committing()
    {
        var before = Enumerable.Range(0, 20).Select(i => _store.CreateAsync(NewTask(prompt: $"a{i}"), CancellationToken.None)).ToList();
        var broken = _database.WriteAsync<int>(_ => throw new KeyNotFoundException("a bug in one write"), CancellationToken.None);
        var after = Enumerable.Range(0, 20).Select(i => _store.CreateAsync(NewTask(prompt: $"b{i}"), CancellationToken.None)).ToList();

        // Bounded: a writer that died would leave these waiting forever rather than failing.
        await Task.WhenAll(before.Concat(after)).WaitAsync(TimeSpan.FromSeconds(30));
        var act = async () => await broken;
        await act.Should().ThrowAsync<KeyNotFoundException>();
        (await _store.CreateAsync(NewTask(prompt: "later"), CancellationToken.None)).Kind.Should().Be(CreateOutcomeKind.Created,
            "a later batch still commits");
        await using var reopened = KinemaDataStore.Open(new KinemaPaths(_directory.Path));
        (await reopened.CountAsync("1 = 1")).Should().Be(41);
    }

    [Fact]
    public async Task Writes_queued_beyond_one_batch_all_commit_in_the_order_they_were_queued()
    {
        using var held = new ManualResetEventSlim();
        var holding = _database.WriteAsync(_ => held.Wait(TimeSpan.FromSeconds(30)), CancellationToken.None);
        var order = new List<int>();
        // The writer is held inside the first write, so these pile up: more than twice what one batch takes.
        var queued = Enumerable.Range(0, 1_300).Select(i => _database.WriteAsync(connection =>
        {
            order.Add(i);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            return command.ExecuteScalar();
        }, CancellationToken.None)).ToList();
        held.Set();

        (await holding.WaitAsync(TimeSpan.FromSeconds(30))).Should().BeTrue("the holding write was released, not timed out");
        await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(30));
        order.Should().Equal(Enumerable.Range(0, 1_300));
    }

    [Fact]
    public async Task Closing_the_database_commits_what_is_queued_and_refuses_later_writes()
    {
        using var held = new ManualResetEventSlim();
        var holding = _database.WriteAsync(_ => held.Wait(TimeSpan.FromSeconds(30)), CancellationToken.None);
        var queued = Enumerable.Range(0, 30).Select(i => _store.CreateAsync(NewTask(prompt: $"q{i}"), CancellationToken.None)).ToList();
        var closing = _database.DisposeAsync().AsTask();
        held.Set();

        await closing.WaitAsync(TimeSpan.FromSeconds(30));
        (await Task.WhenAll(queued)).Should().OnlyContain(outcome => outcome.Kind == CreateOutcomeKind.Created);
        Action late = () => _database.WriteAsync(_ => 1, CancellationToken.None);
        late.Should().Throw<ObjectDisposedException>("the write is refused at once, not queued to wait forever");
        await using var reopened = KinemaDataStore.Open(new KinemaPaths(_directory.Path));
        (await reopened.CountAsync("1 = 1")).Should().Be(30);
    }
}
