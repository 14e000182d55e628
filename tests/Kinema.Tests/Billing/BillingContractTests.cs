using Kinema.Contracts.Requests;
using Kinema.Core.Billing;
using Kinema.Core.Engines;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace Kinema.Tests.Billing;

/// <summary>One node's view of a store, for billing: tasks, upstream state and accounts over one database.</summary>
public sealed record BillingNode(ITaskStore Tasks, IUpstreamTaskStore Upstream, IBillingStore Billing);

/// <summary>
/// The money rules every store provider must keep, run once per provider: a charge in the create's transaction, a
/// refund in the ending's transaction and exactly once, never an overdraw, and the ledger always summing to the balance.
/// "Another node" is a second set of stores on the same database (PostgreSQL), or the same stores (SQLite).
/// </summary>
public abstract class BillingContractTests : IAsyncLifetime
{
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    protected BillingNode Node { get; private set; } = null!;

    protected abstract Task<BillingNode> OpenAsync();
    protected abstract Task<BillingNode> OpenAnotherNodeAsync();
    /// <summary>Runs a query returning one integer (SUM, COUNT) on the store's database.</summary>
    protected abstract Task<long> ScalarAsync(string sql);
    public abstract ValueTask DisposeAsync();

    public async ValueTask InitializeAsync() => Node = await OpenAsync();

    private static NewTask Paid(string tenant = "alice", long cost = 5, string? key = null, string prompt = "a cat", string hash = "h1") =>
        new(tenant, "animatic", new GenerationRequest { Model = ModelNames.KlingV3, Prompt = prompt }, key, hash, Cost: cost, KeyId: "key_a");

    private async Task FundAsync(string tenant, long credits, int? maxInFlight = null)
    {
        await Node.Billing.UpsertTenantAsync(tenant, maxInFlight, CancellationToken.None);
        if (credits > 0)
        {
            (await Node.Billing.AddCreditsAsync(tenant, credits, null, "seed", CancellationToken.None)).Kind.Should().Be(CreditOutcomeKind.Applied);
        }
    }

    /// <summary>Every tenant's balance is its ledger's sum and never negative; no task was charged or refunded twice.</summary>
    private async Task BooksBalanceAsync()
    {
        (await ScalarAsync("""
            SELECT COUNT(*) FROM tenants t
            WHERE t.balance <> (SELECT COALESCE(SUM(amount), 0) FROM ledger l WHERE l.tenant_id = t.id)
            """)).Should().Be(0, "every balance is the sum of its ledger");
        (await ScalarAsync("SELECT COUNT(*) FROM tenants WHERE balance < 0")).Should().Be(0);
        (await ScalarAsync("SELECT COUNT(*) FROM ledger WHERE balance_after < 0")).Should().Be(0);
        (await ScalarAsync("""
            SELECT COUNT(*) FROM (SELECT task_id FROM ledger WHERE task_id IS NOT NULL GROUP BY task_id, kind HAVING COUNT(*) > 1) twice
            """)).Should().Be(0, "no task is charged or refunded twice");
        (await ScalarAsync("""
            SELECT COUNT(*) FROM tasks t
            WHERE t.cost > 0 AND (SELECT COUNT(*) FROM ledger l WHERE l.task_id = t.id AND l.kind = 'refund') <> (CASE WHEN t.refunded THEN 1 ELSE 0 END)
            """)).Should().Be(0, "the refunded flag and the refund lines agree");
    }

    private Task<long> RefundsAsync(string taskId) => ScalarAsync($"SELECT COUNT(*) FROM ledger WHERE task_id = '{taskId}' AND kind = 'refund'");
    private Task<long> ChargesAsync(string taskId) => ScalarAsync($"SELECT COUNT(*) FROM ledger WHERE task_id = '{taskId}' AND kind = 'charge'");
    private async Task<long> BalanceAsync(string tenant) => (await Node.Billing.GetTenantAsync(tenant, CancellationToken.None))!.Balance;

    [Fact]
    public async Task Create_charges_the_cost_in_its_transaction_and_records_it()
    {
        await FundAsync("alice", 12);

        var outcome = await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None);

        outcome.Kind.Should().Be(CreateOutcomeKind.Created);
        outcome.Task!.Cost.Should().Be(5);
        (await Node.Tasks.GetAsync("alice", outcome.Task.Id, CancellationToken.None))!.Cost.Should().Be(5);
        (await BalanceAsync("alice")).Should().Be(7);
        var page = await Node.Billing.ListLedgerAsync("alice", 10, null, CancellationToken.None);
        page.Entries.Select(e => (e.Kind, e.Amount, e.BalanceAfter, e.TaskId)).Should().Equal(
            (LedgerKinds.Charge, -5L, 7L, outcome.Task.Id),
            (LedgerKinds.Grant, 12L, 12L, (string?)null));
        page.Entries[0].KeyId.Should().Be("key_a");
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Create_beyond_the_balance_writes_nothing_and_reports_the_balance()
    {
        await FundAsync("alice", 4);

        var outcome = await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None);

        outcome.Kind.Should().Be(CreateOutcomeKind.InsufficientCredits);
        outcome.Balance.Should().Be(4);
        outcome.Task.Should().BeNull();
        (await ScalarAsync("SELECT COUNT(*) FROM tasks")).Should().Be(0);
        (await BalanceAsync("alice")).Should().Be(4);
        (await Node.Tasks.CreateAsync(Paid(tenant: "nobody"), CancellationToken.None)).Kind
            .Should().Be(CreateOutcomeKind.InsufficientCredits, "a tenant without an account has nothing to spend");
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Free_tasks_need_no_account()
    {
        var outcome = await Node.Tasks.CreateAsync(Paid(tenant: "nobody", cost: 0), CancellationToken.None);

        outcome.Kind.Should().Be(CreateOutcomeKind.Created);
        (await ScalarAsync("SELECT COUNT(*) FROM ledger")).Should().Be(0);
    }

    [Fact]
    public async Task Hundreds_of_racing_creates_on_two_nodes_take_exactly_what_the_balance_allows()
    {
        await FundAsync("alice", 5 * 37 + 3);
        var other = await OpenAnotherNodeAsync();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => Task.Run(() =>
            (i % 2 == 0 ? Node : other).Tasks.CreateAsync(Paid(cost: 5, prompt: $"p{i}"), CancellationToken.None))));

        outcomes.Count(o => o.Kind == CreateOutcomeKind.Created).Should().Be(37);
        outcomes.Count(o => o.Kind == CreateOutcomeKind.InsufficientCredits).Should().Be(300 - 37);
        outcomes.Where(o => o.Kind == CreateOutcomeKind.InsufficientCredits).Should().OnlyContain(o => o.Balance < 5);
        (await BalanceAsync("alice")).Should().Be(3);
        (await ScalarAsync("SELECT COUNT(*) FROM tasks")).Should().Be(37);
        (await ScalarAsync("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'")).Should().Be(37);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task The_cap_holds_for_free_creates_too_while_uncapped_tenants_are_not_held_back()
    {
        // Billing off (cost 0), no idempotency key: the creates PostgreSQL commits in one statement, unless a tenant has a cap.
        await FundAsync("capped", 0, maxInFlight: 2);
        var other = await OpenAnotherNodeAsync();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() =>
            (i % 2 == 0 ? Node : other).Tasks.CreateAsync(Paid(cost: 0, prompt: $"p{i}", tenant: i % 3 == 0 ? "capped" : "free"), CancellationToken.None))));

        outcomes.Count(o => o.Kind == CreateOutcomeKind.Created && o.Task!.TenantId == "capped").Should().Be(2);
        outcomes.Count(o => o.Kind == CreateOutcomeKind.Created && o.Task!.TenantId == "free").Should().Be(40);
        outcomes.Count(o => o.Kind == CreateOutcomeKind.TooManyInFlight).Should().Be(18);
        (await ScalarAsync("SELECT COUNT(*) FROM tasks WHERE tenant_id = 'capped'")).Should().Be(2);
        (await ScalarAsync("SELECT COUNT(*) FROM tasks WHERE tenant_id = 'free'")).Should().Be(40);
    }

    [Fact]
    public async Task Racing_creates_never_exceed_the_tenants_cap_on_tasks_in_flight()
    {
        await FundAsync("alice", 1000, maxInFlight: 3);
        var other = await OpenAnotherNodeAsync();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() =>
            (i % 2 == 0 ? Node : other).Tasks.CreateAsync(Paid(cost: 1, prompt: $"p{i}"), CancellationToken.None))));

        outcomes.Count(o => o.Kind == CreateOutcomeKind.Created).Should().Be(3);
        outcomes.Where(o => o.Kind != CreateOutcomeKind.Created).Should().OnlyContain(o => o.Kind == CreateOutcomeKind.TooManyInFlight && o.MaxInFlight == 3);
        (await BalanceAsync("alice")).Should().Be(997);

        // A task that ends frees a place.
        var claimed = await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        await Node.Tasks.CompleteAsync(claimed!.Id, "w1", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None);
        (await Node.Tasks.CreateAsync(Paid(cost: 1, prompt: "after"), CancellationToken.None)).Kind.Should().Be(CreateOutcomeKind.Created);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task An_idempotent_replay_charges_once()
    {
        await FundAsync("alice", 20);

        var first = await Node.Tasks.CreateAsync(Paid(cost: 5, key: "k1"), CancellationToken.None);
        var replays = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Node.Tasks.CreateAsync(Paid(cost: 5, key: "k1"), CancellationToken.None)));

        first.Kind.Should().Be(CreateOutcomeKind.Created);
        replays.Should().OnlyContain(r => r.Kind == CreateOutcomeKind.Replayed && r.Task!.Id == first.Task!.Id);
        (await BalanceAsync("alice")).Should().Be(15);
        (await ChargesAsync(first.Task!.Id)).Should().Be(1);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Racing_keyed_creates_on_two_nodes_charge_once()
    {
        await FundAsync("alice", 20);
        var other = await OpenAnotherNodeAsync();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            (i % 2 == 0 ? Node : other).Tasks.CreateAsync(Paid(cost: 5, key: "same"), CancellationToken.None))));

        outcomes.Count(o => o.Kind == CreateOutcomeKind.Created).Should().Be(1);
        outcomes.Select(o => o.Task!.Id).Distinct().Should().ContainSingle();
        (await BalanceAsync("alice")).Should().Be(15);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task A_failed_render_is_refunded_once()
    {
        await FundAsync("alice", 10);
        var id = (await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        (await Node.Tasks.FailAsync(id, "w1", new TaskFailure("render_failed", "boom"), CancellationToken.None)).Should().BeTrue();
        (await Node.Tasks.FailAsync(id, "w1", new TaskFailure("render_failed", "again"), CancellationToken.None)).Should().BeFalse();

        (await BalanceAsync("alice")).Should().Be(10);
        (await RefundsAsync(id)).Should().Be(1);
        (await Node.Tasks.GetAsync("alice", id, CancellationToken.None))!.Refunded.Should().BeTrue();
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task A_completed_task_keeps_its_charge()
    {
        await FundAsync("alice", 10);
        var id = (await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        await Node.Tasks.CompleteAsync(id, "w1", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None);

        (await Node.Tasks.CancelAsync("alice", id, CancellationToken.None)).Cancelled.Should().BeFalse();

        (await BalanceAsync("alice")).Should().Be(5);
        (await RefundsAsync(id)).Should().Be(0);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Cancelling_a_pending_task_refunds_it_once()
    {
        await FundAsync("alice", 10);
        var id = (await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None)).Task!.Id;

        var cancelled = await Node.Tasks.CancelAsync("alice", id, CancellationToken.None);
        var again = await Node.Tasks.CancelAsync("alice", id, CancellationToken.None);

        cancelled.Cancelled.Should().BeTrue();
        cancelled.Task!.Refunded.Should().BeTrue();
        again.Cancelled.Should().BeFalse();
        (await BalanceAsync("alice")).Should().Be(10);
        (await RefundsAsync(id)).Should().Be(1);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Cancelling_after_an_upstream_accepted_the_task_is_not_refunded()
    {
        await FundAsync("alice", 10);
        var id = (await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        await Node.Upstream.RecordIntentAsync(id, "w1", "kling", "a", CancellationToken.None);
        await Node.Upstream.RecordSubmittedAsync(id, "w1", new UpstreamHandle("kling", "a", "up-1"), Time.GetUtcNow(), CancellationToken.None);

        var cancelled = await Node.Tasks.CancelAsync("alice", id, CancellationToken.None);

        cancelled.Cancelled.Should().BeTrue();
        cancelled.Task!.Refunded.Should().BeFalse("the upstream bills work it accepted");
        (await BalanceAsync("alice")).Should().Be(5);
        (await RefundsAsync(id)).Should().Be(0);
        (await Node.Upstream.FailAsync(id, "up-1", new TaskFailure("x", "late"), CancellationToken.None)).Should().BeFalse();
        (await RefundsAsync(id)).Should().Be(0);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Concurrent_cancel_and_failure_of_one_task_refund_it_once()
    {
        await FundAsync("alice", 1000);
        var other = await OpenAnotherNodeAsync();
        var ids = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            ids.Add((await Node.Tasks.CreateAsync(Paid(cost: 5, prompt: $"p{i}"), CancellationToken.None)).Task!.Id);
        }

        var claimed = new List<TaskRecord>();
        while (await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None) is { } task)
        {
            claimed.Add(task);
        }

        await Task.WhenAll(claimed.SelectMany(task => new Task[]
        {
            Task.Run(() => Node.Tasks.CancelAsync("alice", task.Id, CancellationToken.None)),
            Task.Run(() => other.Tasks.FailAsync(task.Id, "w1", new TaskFailure("render_failed", "boom"), CancellationToken.None)),
        }));

        foreach (var id in ids)
        {
            (await RefundsAsync(id)).Should().Be(1, $"task {id} ended once, and nothing was delivered");
        }

        (await BalanceAsync("alice")).Should().Be(1000);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Failover_to_another_engine_charges_once_and_an_upstream_failure_refunds_once()
    {
        await FundAsync("alice", 10);
        var id = (await Node.Tasks.CreateAsync(Paid(cost: 5), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        await Node.Upstream.RecordIntentAsync(id, "w1", "kling", "a", CancellationToken.None);
        (await Node.Upstream.RecordFailoverAsync(id, "w1", "apimart", "kling: 503", CancellationToken.None)).Should().BeTrue();
        await Node.Upstream.RecordIntentAsync(id, "w1", "apimart", "b", CancellationToken.None);
        await Node.Upstream.RecordSubmittedAsync(id, "w1", new UpstreamHandle("apimart", "b", "up-2"), Time.GetUtcNow(), CancellationToken.None);

        (await BalanceAsync("alice")).Should().Be(5);
        (await ChargesAsync(id)).Should().Be(1);
        (await Node.Upstream.FailAsync(id, "up-2", new TaskFailure("upstream_failed", "no"), CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.FailAsync(id, "up-2", new TaskFailure("upstream_failed", "no"), CancellationToken.None)).Should().BeFalse();

        (await BalanceAsync("alice")).Should().Be(10);
        (await RefundsAsync(id)).Should().Be(1);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task The_deadline_sweeper_refunds_every_task_it_fails_once_even_from_two_nodes()
    {
        await FundAsync("alice", 100);
        var other = await OpenAnotherNodeAsync();
        for (var i = 0; i < 10; i++)
        {
            var id = (await Node.Tasks.CreateAsync(Paid(cost: 3, prompt: $"p{i}"), CancellationToken.None)).Task!.Id;
            await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
            await Node.Upstream.RecordSubmittedAsync(id, "w1", new UpstreamHandle("kling", "a", $"up-{i}"), Time.GetUtcNow(), CancellationToken.None);
        }

        (await BalanceAsync("alice")).Should().Be(70);
        Time.Advance(TimeSpan.FromHours(3));
        var failed = await Task.WhenAll(
            Node.Upstream.FailOverdueAsync(Time.GetUtcNow().AddHours(-2), new TaskFailure("deadline", "too slow"), 100, CancellationToken.None),
            other.Upstream.FailOverdueAsync(Time.GetUtcNow().AddHours(-2), new TaskFailure("deadline", "too slow"), 100, CancellationToken.None));

        failed.SelectMany(f => f).Should().HaveCount(10).And.OnlyContain(t => t.Refunded);
        (await BalanceAsync("alice")).Should().Be(100);
        (await ScalarAsync("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'")).Should().Be(10);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task A_task_given_up_after_its_attempts_are_exhausted_is_refunded()
    {
        await FundAsync("alice", 10);
        var id = (await Node.Tasks.CreateAsync(Paid(cost: 4), CancellationToken.None)).Task!.Id;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await Node.Tasks.ClaimNextAsync($"w{attempt}", Lease, CancellationToken.None))!.Id.Should().Be(id);
            Time.Advance(Lease + TimeSpan.FromSeconds(1));
        }

        (await Node.Tasks.ClaimNextAsync("w9", Lease, CancellationToken.None)).Should().BeNull();

        var task = await Node.Tasks.GetAsync("alice", id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Failed);
        task.Refunded.Should().BeTrue();
        (await BalanceAsync("alice")).Should().Be(10);
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task Credits_may_be_taken_away_but_never_below_zero()
    {
        await FundAsync("alice", 10);

        var debit = await Node.Billing.AddCreditsAsync("alice", -4, "key_admin", "correction", CancellationToken.None);
        var overdraw = await Node.Billing.AddCreditsAsync("alice", -7, "key_admin", null, CancellationToken.None);
        var unknown = await Node.Billing.AddCreditsAsync("nobody", 5, "key_admin", null, CancellationToken.None);

        debit.Kind.Should().Be(CreditOutcomeKind.Applied);
        debit.Tenant!.Balance.Should().Be(6);
        overdraw.Kind.Should().Be(CreditOutcomeKind.WouldGoNegative);
        overdraw.Tenant!.Balance.Should().Be(6);
        unknown.Kind.Should().Be(CreditOutcomeKind.UnknownTenant);
        var entries = (await Node.Billing.ListLedgerAsync("alice", 10, null, CancellationToken.None)).Entries;
        entries[0].Should().Match<LedgerEntry>(e => e.Kind == LedgerKinds.Debit && e.Amount == -4 && e.Note == "correction" && e.KeyId == "key_admin");
        await BooksBalanceAsync();
    }

    [Fact]
    public async Task The_ledger_pages_newest_first_and_shows_one_tenant_only()
    {
        await FundAsync("alice", 0);
        await FundAsync("bob", 100);
        for (var i = 1; i <= 5; i++)
        {
            await Node.Billing.AddCreditsAsync("alice", i, null, $"n{i}", CancellationToken.None);
        }

        var first = await Node.Billing.ListLedgerAsync("alice", 2, null, CancellationToken.None);
        var second = await Node.Billing.ListLedgerAsync("alice", 2, first.NextCursor, CancellationToken.None);
        var third = await Node.Billing.ListLedgerAsync("alice", 2, second.NextCursor, CancellationToken.None);

        first.Entries.Select(e => e.Amount).Should().Equal(5, 4);
        second.Entries.Select(e => e.Amount).Should().Equal(3, 2);
        third.Entries.Select(e => e.Amount).Should().Equal(1);
        third.HasMore.Should().BeFalse();
        first.Entries.Concat(second.Entries).Concat(third.Entries).Should().OnlyContain(e => e.TenantId == "alice");
        var usage = await Node.Billing.UsageAsync(CancellationToken.None);
        usage.Single(u => u.TenantId == "alice").Should().Match<TenantUsage>(u => u.Balance == 15 && u.Granted == 15);
        usage.Single(u => u.TenantId == "bob").Balance.Should().Be(100);
    }

    [Fact]
    public async Task The_ledger_is_append_only()
    {
        await FundAsync("alice", 10);

        var update = () => ScalarAsync("UPDATE ledger SET amount = 1000");
        var delete = () => ScalarAsync("DELETE FROM ledger");

        await update.Should().ThrowAsync<Exception>();
        await delete.Should().ThrowAsync<Exception>();
        await BooksBalanceAsync();
    }
}
