using Kinema.Contracts.Requests;
using Kinema.Core;
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
    public async Task Created_task_is_pending_and_readable_by_its_tenant_only()
    {
        var outcome = await _store.CreateAsync(NewTask(), CancellationToken.None);

        outcome.Kind.Should().Be(CreateOutcomeKind.Created);
        var task = await _store.GetAsync("t1", outcome.Task!.Id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Pending);
        task.Request.Prompt.Should().Be("a cat");
        task.Engine.Should().Be("animatic");
        (await _store.GetAsync("t2", outcome.Task.Id, CancellationToken.None)).Should().BeNull();
    }

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
    public async Task Claim_takes_the_oldest_pending_task_once()
    {
        var first = (await _store.CreateAsync(NewTask(prompt: "first"), CancellationToken.None)).Task!;
        _time.Advance(TimeSpan.FromMilliseconds(5));
        await _store.CreateAsync(NewTask(prompt: "second"), CancellationToken.None);

        var claimed = await _store.ClaimNextAsync("w1", Lease, CancellationToken.None);
        var other = await _store.ClaimNextAsync("w2", Lease, CancellationToken.None);
        var none = await _store.ClaimNextAsync("w3", Lease, CancellationToken.None);

        claimed!.Id.Should().Be(first.Id);
        claimed.State.Should().Be(TaskState.Processing);
        claimed.Attempts.Should().Be(1);
        other!.Id.Should().NotBe(first.Id);
        none.Should().BeNull();
    }

    [Fact]
    public async Task Expired_lease_lets_another_worker_take_the_task_and_fences_the_first()
    {
        var id = (await _store.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await _store.ClaimNextAsync("w1", Lease, CancellationToken.None);

        _time.Advance(TimeSpan.FromSeconds(29));
        (await _store.ClaimNextAsync("w2", Lease, CancellationToken.None)).Should().BeNull("the lease still runs");

        _time.Advance(TimeSpan.FromSeconds(2));
        var reclaimed = await _store.ClaimNextAsync("w2", Lease, CancellationToken.None);
        reclaimed!.Id.Should().Be(id);
        reclaimed.Attempts.Should().Be(2);

        var result = new StoredResult { VideoName = "video.mp4" };
        (await _store.CompleteAsync(id, "w1", result, CancellationToken.None)).Should().BeFalse("w1 lost the lease");
        (await _store.HeartbeatAsync(id, "w1", 50, Lease, CancellationToken.None)).Should().BeFalse();
        (await _store.CompleteAsync(id, "w2", result, CancellationToken.None)).Should().BeTrue();
        (await _store.CompleteAsync(id, "w2", result, CancellationToken.None)).Should().BeFalse("a task completes once");
        var task = await _store.GetAsync("t1", id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Completed);
        task.Progress.Should().Be(100);
    }

    [Fact]
    public async Task Heartbeat_extends_the_lease_and_keeps_progress_monotonic()
    {
        var id = (await _store.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await _store.ClaimNextAsync("w1", Lease, CancellationToken.None);

        _time.Advance(TimeSpan.FromSeconds(20));
        (await _store.HeartbeatAsync(id, "w1", 40, Lease, CancellationToken.None)).Should().BeTrue();
        (await _store.HeartbeatAsync(id, "w1", 30, Lease, CancellationToken.None)).Should().BeTrue();
        _time.Advance(TimeSpan.FromSeconds(20));

        (await _store.ClaimNextAsync("w2", Lease, CancellationToken.None)).Should().BeNull("the heartbeat renewed the lease");
        (await _store.GetAsync("t1", id, CancellationToken.None))!.Progress.Should().Be(40);
    }

    [Fact]
    public async Task Task_interrupted_too_often_is_failed_with_a_reason()
    {
        var id = (await _store.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await _store.ClaimNextAsync($"w{attempt}", Lease, CancellationToken.None)).Should().NotBeNull();
            _time.Advance(Lease + TimeSpan.FromSeconds(1));
        }

        (await _store.ClaimNextAsync("w9", Lease, CancellationToken.None)).Should().BeNull();
        var task = await _store.GetAsync("t1", id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Failed);
        task.Failure!.Code.Should().Be("attempts_exhausted");
        task.Failure.Message.Should().Contain("3 times");
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
    public async Task Idempotency_key_replays_the_same_body_and_refuses_a_different_one()
    {
        var first = await _store.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);
        var replay = await _store.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);
        var clash = await _store.CreateAsync(NewTask(key: "k1", hash: "B"), CancellationToken.None);
        var otherTenant = await _store.CreateAsync(NewTask(tenant: "t2", key: "k1", hash: "B"), CancellationToken.None);

        replay.Kind.Should().Be(CreateOutcomeKind.Replayed);
        replay.Task!.Id.Should().Be(first.Task!.Id);
        clash.Kind.Should().Be(CreateOutcomeKind.KeyConflict);
        otherTenant.Kind.Should().Be(CreateOutcomeKind.Created);
    }

    [Fact]
    public async Task Idempotency_key_is_free_again_after_24_hours()
    {
        var first = await _store.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));

        var again = await _store.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);

        again.Kind.Should().Be(CreateOutcomeKind.Created);
        again.Task!.Id.Should().NotBe(first.Task!.Id);
    }

    [Fact]
    public async Task Concurrent_creates_are_all_durable_after_group_commit()
    {
        var creates = Enumerable.Range(0, 500)
            .Select(i => _store.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None));
        var outcomes = await Task.WhenAll(creates);

        outcomes.Select(o => o.Task!.Id).Distinct().Should().HaveCount(500);
        await using var reopened = KinemaDataStore.Open(new KinemaPaths(_directory.Path));
        reopened.Count("tenant_id = 't1'").Should().Be(500);
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
        reopened.Count("1 = 1").Should().Be(50);
    }
}
