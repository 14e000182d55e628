using Kinema.Contracts.Requests;
using Kinema.Core.Engines;
using Kinema.Core.RateLimits;
using Kinema.Core.Tasks;
using Kinema.Core.Tenants;
using Kinema.Core.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace Kinema.Tests.Storage;

/// <summary>One node's view of a store: every interface the server uses, over one database.</summary>
public sealed record StoreNode(ITaskStore Tasks, IUpstreamTaskStore Upstream, IWebhookStore Webhooks, IApiKeyStore Keys, IRateLimitStore RateLimits);

/// <summary>
/// The behaviour every store provider must have, run once per provider. "Another node" is a second set of stores on
/// the same database: for PostgreSQL a separate connection pool and create batcher, as a second process would have;
/// for SQLite, where one file has one server, the same stores.
/// </summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    protected StoreNode Node { get; private set; } = null!;

    protected abstract Task<StoreNode> OpenAsync();
    protected abstract Task<StoreNode> OpenAnotherNodeAsync();
    protected abstract Task<long> CountAsync(string condition);
    public abstract ValueTask DisposeAsync();

    public async ValueTask InitializeAsync() => Node = await OpenAsync();

    protected static NewTask NewTask(string tenant = "t1", string? key = null, string prompt = "a cat", string hash = "h1", string engine = "animatic") =>
        new(tenant, engine, new GenerationRequest { Model = ModelNames.KlingV3, Prompt = prompt }, key, hash);

    [Fact]
    public async Task Created_task_is_pending_and_readable_by_its_tenant_only()
    {
        var outcome = await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None);

        outcome.Kind.Should().Be(CreateOutcomeKind.Created);
        outcome.Task!.Id.Should().MatchRegex("^task_[0-9A-HJKMNP-TV-Z]{26}$");
        var task = await Node.Tasks.GetAsync("t1", outcome.Task.Id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Pending);
        task.Request.Prompt.Should().Be("a cat");
        task.Engine.Should().Be("animatic");
        task.CreatedAt.Should().Be(Time.GetUtcNow());
        (await Node.Tasks.GetAsync("t2", outcome.Task.Id, CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task Claim_takes_the_oldest_pending_task_once()
    {
        var first = (await Node.Tasks.CreateAsync(NewTask(prompt: "first"), CancellationToken.None)).Task!;
        Time.Advance(TimeSpan.FromMilliseconds(5));
        await Node.Tasks.CreateAsync(NewTask(prompt: "second"), CancellationToken.None);

        var claimed = await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        var other = await Node.Tasks.ClaimNextAsync("w2", Lease, CancellationToken.None);
        var none = await Node.Tasks.ClaimNextAsync("w3", Lease, CancellationToken.None);

        claimed!.Id.Should().Be(first.Id);
        claimed.State.Should().Be(TaskState.Processing);
        claimed.Attempts.Should().Be(1);
        claimed.LeaseOwner.Should().Be("w1");
        other!.Id.Should().NotBe(first.Id);
        none.Should().BeNull();
    }

    [Fact]
    public async Task Concurrent_claims_from_two_nodes_take_every_task_exactly_once()
    {
        var other = await OpenAnotherNodeAsync();
        var created = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Node.Tasks.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None)));

        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var store = worker % 2 == 0 ? Node.Tasks : other.Tasks;
            var mine = new List<string>();
            while (await store.ClaimNextAsync($"w{worker}", Lease, CancellationToken.None) is { } task)
            {
                mine.Add(task.Id);
            }

            return mine;
        })));

        var all = claims.SelectMany(c => c).ToList();
        all.Should().OnlyHaveUniqueItems("SKIP LOCKED / the single writer never hands a task to two workers");
        all.Should().BeEquivalentTo(created.Select(c => c.Task!.Id));
    }

    [Fact]
    public async Task Expired_lease_lets_another_worker_take_the_task_and_fences_the_first()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        Time.Advance(TimeSpan.FromSeconds(29));
        (await Node.Tasks.ClaimNextAsync("w2", Lease, CancellationToken.None)).Should().BeNull("the lease still runs");

        Time.Advance(TimeSpan.FromSeconds(2));
        var reclaimed = await Node.Tasks.ClaimNextAsync("w2", Lease, CancellationToken.None);
        reclaimed!.Id.Should().Be(id);
        reclaimed.Attempts.Should().Be(2);

        var result = new StoredResult { VideoName = "video.mp4" };
        (await Node.Tasks.CompleteAsync(id, "w1", result, CancellationToken.None)).Should().BeFalse("w1 lost the lease");
        (await Node.Tasks.HeartbeatAsync(id, "w1", 50, Lease, CancellationToken.None)).Should().BeFalse();
        (await Node.Tasks.CompleteAsync(id, "w2", result, CancellationToken.None)).Should().BeTrue();
        (await Node.Tasks.CompleteAsync(id, "w2", result, CancellationToken.None)).Should().BeFalse("a task completes once");
        var task = await Node.Tasks.GetAsync("t1", id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Completed);
        task.Progress.Should().Be(100);
        task.Result!.VideoName.Should().Be("video.mp4");
    }

    [Fact]
    public async Task Heartbeat_extends_the_lease_and_keeps_progress_monotonic()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        Time.Advance(TimeSpan.FromSeconds(20));
        (await Node.Tasks.HeartbeatAsync(id, "w1", 40, Lease, CancellationToken.None)).Should().BeTrue();
        (await Node.Tasks.HeartbeatAsync(id, "w1", 30, Lease, CancellationToken.None)).Should().BeTrue();
        Time.Advance(TimeSpan.FromSeconds(20));

        (await Node.Tasks.ClaimNextAsync("w2", Lease, CancellationToken.None)).Should().BeNull("the heartbeat renewed the lease");
        (await Node.Tasks.GetAsync("t1", id, CancellationToken.None))!.Progress.Should().Be(40);
    }

    [Fact]
    public async Task Task_interrupted_too_often_is_failed_with_a_reason()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await Node.Tasks.ClaimNextAsync($"w{attempt}", Lease, CancellationToken.None)).Should().NotBeNull();
            Time.Advance(Lease + TimeSpan.FromSeconds(1));
        }

        (await Node.Tasks.ClaimNextAsync("w9", Lease, CancellationToken.None)).Should().BeNull();
        var task = await Node.Tasks.GetAsync("t1", id, CancellationToken.None);
        task!.State.Should().Be(TaskState.Failed);
        task.Failure!.Code.Should().Be("attempts_exhausted");
        task.Failure.Message.Should().Contain("3 times");
    }

    [Fact]
    public async Task Release_puts_the_task_back_in_the_queue()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        (await Node.Tasks.ReleaseAsync(id, "w1", CancellationToken.None)).Should().BeTrue();
        (await Node.Tasks.ReleaseAsync(id, "w1", CancellationToken.None)).Should().BeFalse("the lease is gone");

        (await Node.Tasks.GetAsync("t1", id, CancellationToken.None))!.State.Should().Be(TaskState.Pending);
        (await Node.Tasks.ClaimNextAsync("w2", Lease, CancellationToken.None))!.Id.Should().Be(id);
    }

    [Fact]
    public async Task Cancel_stops_a_running_task_and_refuses_a_finished_one()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        (await Node.Tasks.CancelAsync("t2", id, CancellationToken.None)).Task.Should().BeNull("another tenant's task is invisible");
        var cancelled = await Node.Tasks.CancelAsync("t1", id, CancellationToken.None);
        cancelled.Cancelled.Should().BeTrue();
        cancelled.Task!.State.Should().Be(TaskState.Cancelled);
        (await Node.Tasks.HeartbeatAsync(id, "w1", 50, Lease, CancellationToken.None)).Should().BeFalse("the worker's lease is gone");
        (await Node.Tasks.CompleteAsync(id, "w1", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None)).Should().BeFalse();
        var again = await Node.Tasks.CancelAsync("t1", id, CancellationToken.None);
        again.Cancelled.Should().BeFalse();
        again.Task!.State.Should().Be(TaskState.Cancelled);
    }

    [Fact]
    public async Task Idempotency_key_replays_the_same_body_and_refuses_a_different_one()
    {
        var first = await Node.Tasks.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);
        var replay = await Node.Tasks.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);
        var clash = await Node.Tasks.CreateAsync(NewTask(key: "k1", hash: "B"), CancellationToken.None);
        var otherTenant = await Node.Tasks.CreateAsync(NewTask(tenant: "t2", key: "k1", hash: "B"), CancellationToken.None);

        replay.Kind.Should().Be(CreateOutcomeKind.Replayed);
        replay.Task!.Id.Should().Be(first.Task!.Id);
        clash.Kind.Should().Be(CreateOutcomeKind.KeyConflict);
        otherTenant.Kind.Should().Be(CreateOutcomeKind.Created);
    }

    [Fact]
    public async Task Idempotency_key_holds_across_nodes_under_concurrent_creates()
    {
        var other = await OpenAnotherNodeAsync();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 100).Select(i =>
            (i % 2 == 0 ? Node.Tasks : other.Tasks).CreateAsync(NewTask(key: "same", hash: "A"), CancellationToken.None)));

        outcomes.Select(o => o.Task!.Id).Distinct().Should().ContainSingle();
        outcomes.Count(o => o.Kind == CreateOutcomeKind.Created).Should().Be(1);
        outcomes.Count(o => o.Kind == CreateOutcomeKind.Replayed).Should().Be(99);
        (await CountAsync("idempotency_key = 'same'")).Should().Be(1);
    }

    [Fact]
    public async Task Idempotency_key_is_free_again_after_24_hours()
    {
        var first = await Node.Tasks.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);
        Time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));

        var again = await Node.Tasks.CreateAsync(NewTask(key: "k1", hash: "A"), CancellationToken.None);

        again.Kind.Should().Be(CreateOutcomeKind.Created);
        again.Task!.Id.Should().NotBe(first.Task!.Id);
    }

    [Fact]
    public async Task Concurrent_creates_are_all_durable_after_group_commit()
    {
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 500)
            .Select(i => Node.Tasks.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None)));

        outcomes.Select(o => o.Task!.Id).Distinct().Should().HaveCount(500);
        (await CountAsync("tenant_id = 't1'")).Should().Be(500);
    }

    [Fact]
    public async Task List_pages_newest_first_by_tenant_and_status()
    {
        for (var i = 0; i < 7; i++)
        {
            await Node.Tasks.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None);
            Time.Advance(TimeSpan.FromMilliseconds(1));
        }

        await Node.Tasks.CreateAsync(NewTask(tenant: "t2"), CancellationToken.None);
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        var first = await Node.Tasks.ListAsync("t1", new TaskQuery(3), CancellationToken.None);
        var second = await Node.Tasks.ListAsync("t1", new TaskQuery(3, After: first.NextCursor), CancellationToken.None);
        var third = await Node.Tasks.ListAsync("t1", new TaskQuery(3, After: second.NextCursor), CancellationToken.None);
        var pending = await Node.Tasks.ListAsync("t1", new TaskQuery(50, State: TaskState.Pending), CancellationToken.None);

        first.Tasks.Select(t => t.Request.Prompt).Should().Equal("p6", "p5", "p4");
        first.HasMore.Should().BeTrue();
        second.Tasks.Select(t => t.Request.Prompt).Should().Equal("p3", "p2", "p1");
        third.Tasks.Select(t => t.Request.Prompt).Should().Equal("p0");
        third.HasMore.Should().BeFalse();
        third.NextCursor.Should().BeNull();
        pending.Tasks.Should().HaveCount(6, "the oldest was claimed");
    }

    [Fact]
    public async Task List_pages_oldest_first_when_ascending()
    {
        for (var i = 0; i < 5; i++)
        {
            await Node.Tasks.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None);
            Time.Advance(TimeSpan.FromMilliseconds(1));
        }

        var first = await Node.Tasks.ListAsync("t1", new TaskQuery(2, Ascending: true), CancellationToken.None);
        var second = await Node.Tasks.ListAsync("t1", new TaskQuery(2, After: first.NextCursor, Ascending: true), CancellationToken.None);
        var third = await Node.Tasks.ListAsync("t1", new TaskQuery(2, After: second.NextCursor, Ascending: true), CancellationToken.None);

        first.Tasks.Select(t => t.Request.Prompt).Should().Equal("p0", "p1");
        second.Tasks.Select(t => t.Request.Prompt).Should().Equal("p2", "p3");
        third.Tasks.Select(t => t.Request.Prompt).Should().Equal("p4");
        third.HasMore.Should().BeFalse();
    }

    [Fact]
    public async Task Delete_removes_the_tenants_task_and_nothing_else()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(), CancellationToken.None)).Task!.Id;
        var kept = (await Node.Tasks.CreateAsync(NewTask(prompt: "kept"), CancellationToken.None)).Task!.Id;

        (await Node.Tasks.DeleteAsync("t2", id, CancellationToken.None)).Should().BeFalse("another tenant's task");
        (await Node.Tasks.DeleteAsync("t1", id, CancellationToken.None)).Should().BeTrue();
        (await Node.Tasks.DeleteAsync("t1", id, CancellationToken.None)).Should().BeFalse("it is gone");

        (await Node.Tasks.GetAsync("t1", id, CancellationToken.None)).Should().BeNull();
        (await Node.Tasks.GetAsync("t1", kept, CancellationToken.None)).Should().NotBeNull();
        (await Node.Tasks.ListAsync("t1", new TaskQuery(10), CancellationToken.None)).Tasks.Select(t => t.Id).Should().Equal(kept);
    }

    [Fact]
    public async Task Housekeeping_finds_the_failed_and_cancelled_tasks_of_every_tenant_among_the_ids_it_asks_about()
    {
        var failed = (await Node.Tasks.CreateAsync(NewTask(tenant: "t2", prompt: "failed"), CancellationToken.None)).Task!.Id;
        (await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None))!.Id.Should().Be(failed);
        (await Node.Tasks.FailAsync(failed, "w1", new TaskFailure("internal_error", "broken"), CancellationToken.None)).Should().BeTrue();
        Time.Advance(TimeSpan.FromMilliseconds(5));
        var completed = (await Node.Tasks.CreateAsync(NewTask(prompt: "completed"), CancellationToken.None)).Task!.Id;
        (await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None))!.Id.Should().Be(completed);
        (await Node.Tasks.CompleteAsync(completed, "w1", new StoredResult { VideoName = "video.mp4" }, CancellationToken.None)).Should().BeTrue();
        Time.Advance(TimeSpan.FromMilliseconds(5));
        var processing = (await Node.Tasks.CreateAsync(NewTask(prompt: "processing"), CancellationToken.None)).Task!.Id;
        (await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None))!.Id.Should().Be(processing);
        var cancelled = (await Node.Tasks.CreateAsync(NewTask(prompt: "cancelled"), CancellationToken.None)).Task!.Id;
        (await Node.Tasks.CancelAsync("t1", cancelled, CancellationToken.None)).Cancelled.Should().BeTrue();
        var pending = (await Node.Tasks.CreateAsync(NewTask(prompt: "pending"), CancellationToken.None)).Task!.Id;
        var unknown = TaskIds.New(Time.GetUtcNow());

        var ended = await Node.Tasks.FindEndedWithoutResultAsync(
            [unknown, pending, cancelled, processing, completed, failed], CancellationToken.None);
        var many = await Node.Tasks.FindEndedWithoutResultAsync(
            [.. Enumerable.Range(0, 600).Select(i => TaskIds.New(Time.GetUtcNow().AddSeconds(-i))), failed], CancellationToken.None);

        ended.Should().BeEquivalentTo([cancelled, failed]);
        many.Should().Equal(failed);
        (await Node.Tasks.FindEndedWithoutResultAsync([], CancellationToken.None)).Should().BeEmpty();
    }

    [Fact]
    public async Task A_tenants_webhook_endpoints_stop_at_the_cap_even_when_two_nodes_add_at_once()
    {
        var other = await OpenAnotherNodeAsync();

        // Twelve adds at once, alternating between the nodes, against a cap of five.
        var adds = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() =>
            (i % 2 == 0 ? Node : other).Webhooks.AddEndpointAsync("capped", $"https://hooks.example/{i}", WebhookEvents.All, 5, CancellationToken.None))));
        var elsewhere = await other.Webhooks.AddEndpointAsync("uncapped", "https://hooks.example/x", WebhookEvents.All, 5, CancellationToken.None);

        adds.Count(added => added is not null).Should().Be(5);
        var listed = await Node.Webhooks.ListEndpointsAsync("capped", CancellationToken.None);
        listed.Select(e => e.Id).Should().BeEquivalentTo(adds.Where(a => a is not null).Select(a => a!.Value.Endpoint.Id));
        elsewhere.Should().NotBeNull("another tenant's endpoints do not count");
        (await Node.Webhooks.RemoveEndpointAsync("capped", listed[0].Id, CancellationToken.None)).Should().BeTrue();
        var again = await other.Webhooks.AddEndpointAsync("capped", "https://hooks.example/again", WebhookEvents.All, 5, CancellationToken.None);
        again.Should().NotBeNull("removing one makes room for one");
        (await Node.Webhooks.AddEndpointAsync("capped", "https://hooks.example/over", WebhookEvents.All, 5, CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task Deleting_a_task_withdraws_its_webhook_deliveries_and_keeps_the_others()
    {
        await Node.Webhooks.AddEndpointAsync("t1", "https://hooks.example/all", [WebhookEvents.Completed], 20, CancellationToken.None);
        var deleted = (await Node.Tasks.CreateAsync(NewTask(prompt: "deleted"), CancellationToken.None)).Task!.Id;
        Time.Advance(TimeSpan.FromMilliseconds(5));
        var kept = (await Node.Tasks.CreateAsync(NewTask(prompt: "kept"), CancellationToken.None)).Task!.Id;
        foreach (var id in new[] { deleted, kept })
        {
            (await Node.Tasks.ClaimNextAsync("w", Lease, CancellationToken.None))!.Id.Should().Be(id);
            (await Node.Tasks.CompleteAsync(id, "w", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None)).Should().BeTrue();
        }

        (await Node.Webhooks.EnqueueFinishedTasksAsync(100, task => $$"""{"id":"{{task.Id}}"}""", CancellationToken.None)).Should().Be(2);
        var inFlight = (await Node.Webhooks.ClaimDueAsync(10, TimeSpan.FromSeconds(1), CancellationToken.None)).Single(d => d.TaskId == deleted);

        (await Node.Tasks.DeleteAsync("t1", deleted, CancellationToken.None)).Should().BeTrue();

        (await Node.Webhooks.ListDeliveriesAsync("t1", 100, CancellationToken.None)).Select(d => d.TaskId).Should().Equal(kept);
        // An attempt that was on the wire when the task went records nothing and breaks nothing.
        await Node.Webhooks.RecordAttemptAsync(inFlight.Id, new WebhookAttempt("retry", 503, "busy", Time.GetUtcNow()), CancellationToken.None);
        (await Node.Webhooks.ReplayAsync("t1", inFlight.Id, CancellationToken.None)).Should().BeFalse("the delivery went with its task");
        Time.Advance(TimeSpan.FromSeconds(2));
        (await Node.Webhooks.ClaimDueAsync(10, TimeSpan.FromMinutes(1), CancellationToken.None)).Select(d => d.TaskId).Should().Equal(kept);
        (await Node.Webhooks.EnqueueFinishedTasksAsync(100, task => $$"""{"id":"{{task.Id}}"}""", CancellationToken.None)).Should().Be(0);
    }

    [Fact]
    public async Task A_410_to_a_delivery_whose_task_was_deleted_during_the_attempt_still_disables_the_endpoint()
    {
        await Node.Webhooks.AddEndpointAsync("t1", "https://hooks.example/gone", [WebhookEvents.Completed], 20, CancellationToken.None);
        await Node.Webhooks.AddEndpointAsync("t1", "https://hooks.example/other", [WebhookEvents.Completed], 20, CancellationToken.None);
        var id = (await Node.Tasks.CreateAsync(NewTask(prompt: "deleted mid-attempt"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w", Lease, CancellationToken.None);
        await Node.Tasks.CompleteAsync(id, "w", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None);
        (await Node.Webhooks.EnqueueFinishedTasksAsync(100, task => $$"""{"id":"{{task.Id}}"}""", CancellationToken.None)).Should().Be(2);
        var claimed = await Node.Webhooks.ClaimDueAsync(10, TimeSpan.FromSeconds(1), CancellationToken.None);
        var endpoints = await Node.Webhooks.ListEndpointsAsync("t1", CancellationToken.None);
        var gone = endpoints.Single(e => e.Url == "https://hooks.example/gone");
        var inFlight = claimed.Single(d => d.EndpointId == gone.Id);

        (await Node.Tasks.DeleteAsync("t1", id, CancellationToken.None)).Should().BeTrue();
        await Node.Webhooks.RecordAttemptAsync(inFlight.Id,
            new WebhookAttempt("disabled", 410, "410 Gone: not retried", null, inFlight.EndpointId), CancellationToken.None);

        var after = await Node.Webhooks.ListEndpointsAsync("t1", CancellationToken.None);
        after.Single(e => e.Id == gone.Id).DisabledAt.Should().NotBeNull("the receiver asked never to be called again");
        after.Single(e => e.Id != gone.Id).DisabledAt.Should().BeNull("only the endpoint that answered 410 is switched off");
        (await Node.Webhooks.ListDeliveriesAsync("t1", 100, CancellationToken.None)).Should().BeEmpty("the deliveries went with their task");
    }

    [Fact]
    public async Task Facade_videos_are_announced_with_openai_video_events_to_the_endpoints_that_want_them()
    {
        await Node.Webhooks.AddEndpointAsync("t1", "https://hooks.example/all", WebhookEvents.All, 20, CancellationToken.None);
        await Node.Webhooks.AddEndpointAsync("t1", "https://hooks.example/tasks", [WebhookEvents.Completed, WebhookEvents.Cancelled], 20, CancellationToken.None);
        NewTask Video(string prompt) => NewTask(prompt: prompt) with
        {
            Request = new GenerationRequest
            {
                Model = ModelNames.KlingV3,
                Prompt = prompt,
                Facade = new FacadeOrigin(FacadeOrigin.OpenAiVideos, RemixedFromVideoId: "task_01KB000000000000000000000Z"),
            },
        };
        var completed = (await Node.Tasks.CreateAsync(Video("done"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w", Lease, CancellationToken.None);
        await Node.Tasks.CompleteAsync(completed, "w", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None);
        var cancelled = (await Node.Tasks.CreateAsync(Video("stopped"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.CancelAsync("t1", cancelled, CancellationToken.None);
        var plain = (await Node.Tasks.CreateAsync(NewTask(prompt: "contract"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.CancelAsync("t1", plain, CancellationToken.None);

        (await Node.Tasks.GetAsync("t1", completed, CancellationToken.None))!.Request.Facade.Should()
            .Be(new FacadeOrigin(FacadeOrigin.OpenAiVideos, "task_01KB000000000000000000000Z"), "the façade's origin is kept with the request");
        await Node.Webhooks.EnqueueFinishedTasksAsync(100, task => $$"""{"id":"{{task.Id}}"}""", CancellationToken.None);
        var deliveries = await Node.Webhooks.ListDeliveriesAsync("t1", 100, CancellationToken.None);

        deliveries.Select(d => (d.TaskId, d.Url, d.EventType)).Should().BeEquivalentTo(new[]
        {
            (completed, "https://hooks.example/all", WebhookEvents.Completed),
            (completed, "https://hooks.example/all", WebhookEvents.VideoCompleted),
            (completed, "https://hooks.example/tasks", WebhookEvents.Completed),
            (cancelled, "https://hooks.example/all", WebhookEvents.Cancelled),
            (cancelled, "https://hooks.example/all", WebhookEvents.VideoFailed),
            (cancelled, "https://hooks.example/tasks", WebhookEvents.Cancelled),
            (plain, "https://hooks.example/all", WebhookEvents.Cancelled),
            (plain, "https://hooks.example/tasks", WebhookEvents.Cancelled),
        }, "a task made through the contract produces no video event");
        var videoEvent = deliveries.Single(d => d.EventType == WebhookEvents.VideoCompleted).Payload;
        videoEvent.Should().MatchRegex($$"""^\{"id":"evt_[0-9A-Z]{26}","object":"event","type":"video.completed","created_at":\d+,"data":\{"id":"{{completed}}"\}\}$""");
    }

    [Fact]
    public async Task Upstream_life_is_fenced_by_the_lease_then_by_the_upstream_id()
    {
        var id = (await Node.Tasks.CreateAsync(NewTask(engine: "kling"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);

        (await Node.Upstream.RecordIntentAsync(id, "w2", "kling", "acct", CancellationToken.None)).Should().BeFalse();
        (await Node.Upstream.RecordIntentAsync(id, "w1", "kling", "acct", CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.FindAsync(id, CancellationToken.None))!.SubmitIntentEngine.Should().Be("kling");
        (await Node.Upstream.RecordFailoverAsync(id, "w1", "apimart", "kling: 429", CancellationToken.None)).Should().BeTrue();
        var handle = new UpstreamHandle("apimart", "main", "up-1");
        (await Node.Upstream.RecordSubmittedAsync(id, "w1", handle, Time.GetUtcNow().AddSeconds(5), CancellationToken.None)).Should().BeTrue();

        var waiting = await Node.Upstream.FindAsync(id, CancellationToken.None);
        waiting!.Engine.Should().Be("apimart");
        waiting.EngineHistory.Should().Be("kling: 429");
        waiting.Upstream.Should().Be(handle);
        waiting.LeaseOwner.Should().BeNull();
        (await Node.Upstream.CountWaitingAsync(CancellationToken.None)).Should().Be(1);
        (await Node.Upstream.ClaimDuePollsAsync(10, TimeSpan.FromSeconds(30), CancellationToken.None)).Should().BeEmpty("not due yet");
        (await Node.Upstream.PollNowAsync(id, CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.ClaimDuePollsAsync(10, TimeSpan.FromSeconds(30), CancellationToken.None)).Should().ContainSingle();
        (await Node.Upstream.SchedulePollAsync(id, "up-1", Time.GetUtcNow().AddSeconds(10), 40, 0, CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.FindAsync(id, CancellationToken.None))!.Progress.Should().Be(40);

        var result = new StoredResult { VideoName = "video.mp4" };
        (await Node.Upstream.CompleteAsync(id, "up-other", result, CancellationToken.None)).Should().BeFalse("a superseded submission");
        (await Node.Upstream.CompleteAsync(id, "up-1", result, CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.FailAsync(id, "up-1", new TaskFailure("x", "y"), CancellationToken.None)).Should().BeFalse("it already ended");
        (await Node.Tasks.GetAsync("t1", id, CancellationToken.None))!.State.Should().Be(TaskState.Completed);
    }

    [Fact]
    public async Task Progress_heard_between_polls_only_rises_and_only_for_the_current_submission()
    {
        var other = await OpenAnotherNodeAsync();
        var id = (await Node.Tasks.CreateAsync(NewTask(engine: "comfyui"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        await Node.Upstream.RecordSubmittedAsync(id, "w1", new UpstreamHandle("comfyui", "gpu:8188", "p-1"), Time.GetUtcNow().AddMinutes(1), CancellationToken.None);

        (await Node.Upstream.RecordProgressAsync(id, "p-1", 30, CancellationToken.None)).Should().BeTrue();
        (await other.Upstream.FindAsync(id, CancellationToken.None))!.Progress.Should().Be(30, "every node reads it");
        (await Node.Upstream.RecordProgressAsync(id, "p-1", 20, CancellationToken.None)).Should().BeFalse("progress never goes down");
        (await Node.Upstream.RecordProgressAsync(id, "p-other", 60, CancellationToken.None)).Should().BeFalse("another submission's progress");
        (await Node.Upstream.RecordProgressAsync(id, "p-1", 250, CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.FindAsync(id, CancellationToken.None))!.Progress.Should().Be(99, "100 is for a completed task");
        (await Node.Upstream.FindAsync(id, CancellationToken.None))!.NextPollAt.Should().Be(Time.GetUtcNow().AddMinutes(1), "the poll schedule is untouched");

        await Node.Upstream.CompleteAsync(id, "p-1", new StoredResult { VideoName = "video.mp4" }, CancellationToken.None);
        (await Node.Upstream.RecordProgressAsync(id, "p-1", 99, CancellationToken.None)).Should().BeFalse("the task ended");
        (await Node.Tasks.GetAsync("t1", id, CancellationToken.None))!.Progress.Should().Be(100);
    }

    [Fact]
    public async Task A_task_its_upstream_lost_goes_back_to_be_submitted_again_by_any_node()
    {
        var other = await OpenAnotherNodeAsync();
        var id = (await Node.Tasks.CreateAsync(NewTask(engine: "comfyui"), CancellationToken.None)).Task!.Id;
        await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
        await Node.Upstream.RecordIntentAsync(id, "w1", "comfyui", "gpu:8188", CancellationToken.None);
        await Node.Upstream.RecordSubmittedAsync(id, "w1", new UpstreamHandle("comfyui", "gpu:8188", "p-1"), Time.GetUtcNow(), CancellationToken.None);
        (await Node.Tasks.ClaimNextAsync("w2", Lease, CancellationToken.None)).Should().BeNull("a task waiting upstream is not a worker's");

        (await Node.Upstream.RequeueLostAsync(id, "p-other", "lost", CancellationToken.None)).Should().BeFalse("fenced by the upstream id");
        (await Node.Upstream.RequeueLostAsync(id, "p-1", "comfyui: lost prompt p-1", CancellationToken.None)).Should().BeTrue();
        (await Node.Upstream.RequeueLostAsync(id, "p-1", "again", CancellationToken.None)).Should().BeFalse("only once per lost submission");
        (await Node.Upstream.SchedulePollAsync(id, "p-1", Time.GetUtcNow(), 50, 0, CancellationToken.None)).Should().BeFalse(
            "a late poll of the lost submission changes nothing");
        (await Node.Upstream.ClaimDuePollsAsync(10, TimeSpan.FromSeconds(30), CancellationToken.None)).Should().BeEmpty();
        (await Node.Upstream.CountWaitingAsync(CancellationToken.None)).Should().Be(0);

        var retaken = await other.Tasks.ClaimNextAsync("w3", Lease, CancellationToken.None);
        retaken!.Id.Should().Be(id, "the next free worker on any node takes it at once, without waiting out a lease");
        retaken.State.Should().Be(TaskState.Processing);
        retaken.Attempts.Should().Be(2);
        retaken.Upstream.Should().BeNull();
        retaken.SubmitIntentEngine.Should().Be("comfyui", "the next submission first asks whether the task is there after all");
        retaken.EngineHistory.Should().Be("comfyui: lost prompt p-1");
        (await other.Upstream.RecordIntentAsync(id, "w3", "comfyui", "gpu:8188", CancellationToken.None)).Should().BeTrue();
        (await other.Upstream.RecordSubmittedAsync(id, "w3", new UpstreamHandle("comfyui", "gpu:8188", "p-1"), Time.GetUtcNow(), CancellationToken.None))
            .Should().BeTrue();
        (await Node.Upstream.CompleteAsync(id, "p-1", new StoredResult { VideoName = "video.mp4" }, CancellationToken.None)).Should().BeTrue();
        (await Node.Tasks.GetAsync("t1", id, CancellationToken.None))!.State.Should().Be(TaskState.Completed);
    }

    [Fact]
    public async Task Due_polls_are_claimed_by_one_node_each_and_overdue_tasks_fail_once()
    {
        var other = await OpenAnotherNodeAsync();
        var ids = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var id = (await Node.Tasks.CreateAsync(NewTask(engine: "kling", prompt: $"p{i}"), CancellationToken.None)).Task!.Id;
            await Node.Tasks.ClaimNextAsync("w1", Lease, CancellationToken.None);
            await Node.Upstream.RecordSubmittedAsync(id, "w1", new UpstreamHandle("kling", "a", $"up-{i}"), Time.GetUtcNow(), CancellationToken.None);
            ids.Add(id);
        }

        var claims = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            (i % 2 == 0 ? Node.Upstream : other.Upstream).ClaimDuePollsAsync(10, TimeSpan.FromSeconds(30), CancellationToken.None)));
        claims.SelectMany(c => c).Select(t => t.Id).Should().OnlyHaveUniqueItems().And.HaveCount(40);

        Time.Advance(TimeSpan.FromHours(3));
        var failures = await Task.WhenAll(
            Node.Upstream.FailOverdueAsync(Time.GetUtcNow().AddHours(-2), new TaskFailure("deadline", "too slow"), 100, CancellationToken.None),
            other.Upstream.FailOverdueAsync(Time.GetUtcNow().AddHours(-2), new TaskFailure("deadline", "too slow"), 100, CancellationToken.None));
        failures.SelectMany(f => f).Select(t => t.Id).Should().BeEquivalentTo(ids, "each overdue task is failed by exactly one sweeper");
    }

    [Fact]
    public async Task Finished_tasks_are_announced_once_and_each_delivery_is_claimed_by_one_node()
    {
        var other = await OpenAnotherNodeAsync();
        await Node.Webhooks.AddEndpointAsync("t1", "https://hooks.example/a", WebhookEvents.All, 20, CancellationToken.None);
        for (var i = 0; i < 30; i++)
        {
            var id = (await Node.Tasks.CreateAsync(NewTask(prompt: $"p{i}"), CancellationToken.None)).Task!.Id;
            await Node.Tasks.ClaimNextAsync("w", Lease, CancellationToken.None);
            await Node.Tasks.CompleteAsync(id, "w", new StoredResult { VideoName = "v.mp4" }, CancellationToken.None);
        }

        var enqueued = await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            (i % 2 == 0 ? Node.Webhooks : other.Webhooks).EnqueueFinishedTasksAsync(10, task => $$"""{"id":"{{task.Id}}"}""", CancellationToken.None)));
        var rest = await Node.Webhooks.EnqueueFinishedTasksAsync(100, task => $$"""{"id":"{{task.Id}}"}""", CancellationToken.None);
        (enqueued.Sum() + rest).Should().Be(30, "one delivery per finished task and endpoint, never two");

        var claimed = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            (i % 2 == 0 ? Node.Webhooks : other.Webhooks).ClaimDueAsync(10, TimeSpan.FromMinutes(1), CancellationToken.None)));
        var deliveries = claimed.SelectMany(c => c).ToList();
        deliveries.Select(d => d.Id).Should().OnlyHaveUniqueItems().And.HaveCount(30);
        deliveries.Should().AllSatisfy(d => d.Secret.Should().StartWith("whsec_"));
        deliveries.Should().AllSatisfy(d => d.EventType.Should().Be(WebhookEvents.Completed));

        await Node.Webhooks.RecordAttemptAsync(deliveries[0].Id, new WebhookAttempt("delivered", 200, null, null), CancellationToken.None);
        await Node.Webhooks.RecordAttemptAsync(deliveries[1].Id, new WebhookAttempt("disabled", 410, "gone", null), CancellationToken.None);
        var listed = await other.Webhooks.ListDeliveriesAsync("t1", 100, CancellationToken.None);
        listed.Single(d => d.Id == deliveries[0].Id).Status.Should().Be("delivered");
        (await other.Webhooks.ListEndpointsAsync("t1", CancellationToken.None)).Single().DisabledAt.Should().NotBeNull("410 disables the endpoint");
        (await other.Webhooks.ReplayAsync("t2", deliveries[0].Id, CancellationToken.None)).Should().BeFalse("another tenant's delivery");
        (await other.Webhooks.ReplayAsync("t1", deliveries[0].Id, CancellationToken.None)).Should().BeTrue();
    }

    [Fact]
    public async Task Tenant_webhook_secret_is_the_same_on_every_node()
    {
        var other = await OpenAnotherNodeAsync();

        var secrets = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            (i % 2 == 0 ? Node.Webhooks : other.Webhooks).GetOrCreateTenantSecretAsync("t1", CancellationToken.None)));

        secrets.Distinct().Should().ContainSingle().Which.Should().StartWith("whsec_");
        (await Node.Webhooks.GetOrCreateTenantSecretAsync("t2", CancellationToken.None)).Should().NotBe(secrets[0]);
    }

    [Fact]
    public async Task Key_made_on_one_node_works_on_another_until_revoked_there()
    {
        var other = await OpenAnotherNodeAsync();
        var created = await Node.Keys.CreateAsync("ci", "alice", CancellationToken.None);

        (await other.Keys.FindValidAsync(created.Key, CancellationToken.None))!.TenantId.Should().Be("alice");
        (await other.Keys.RevokeAsync(created.Record.Prefix, CancellationToken.None)).Should().BeTrue();
        (await Node.Keys.FindValidAsync(created.Key, CancellationToken.None)).Should().BeNull();
        (await Node.Keys.ListAsync(CancellationToken.None)).Single().RevokedAt.Should().NotBeNull();
    }

    [Fact]
    public async Task Of_nodes_starting_together_on_an_empty_store_exactly_one_makes_the_first_key()
    {
        var nodes = new List<StoreNode> { Node };
        for (var i = 0; i < 3; i++)
        {
            nodes.Add(await OpenAnotherNodeAsync());
        }

        var attempts = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            Task.Run(() => nodes[i % nodes.Count].Keys.CreateFirstAsync(new NewApiKey("default", "default"), CancellationToken.None))));
        var later = await Node.Keys.CreateFirstAsync(new NewApiKey("default", "default"), CancellationToken.None);

        var made = attempts.Where(a => a is not null).Should().ContainSingle().Subject!;
        later.Should().BeNull();
        (await Node.Keys.ListAsync(CancellationToken.None)).Select(k => k.Id).Should().Equal(made.Record.Id);
        (await nodes[^1].Keys.FindValidAsync(made.Key, CancellationToken.None))!.TenantId.Should().Be("default");
    }

    [Fact]
    public async Task Nodes_taking_a_keys_permits_at_once_grant_exactly_its_limit_in_a_window()
    {
        var nodes = new List<StoreNode> { Node, await OpenAnotherNodeAsync() };

        var granted = await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var total = 0;
            RateGrant grant;
            do
            {
                grant = await nodes[worker % 2].RateLimits.TakeAsync("key_shared", 100, 3, CancellationToken.None);
                total += grant.Granted;
            }
            while (grant.Granted > 0);

            grant.RetryAfter.Should().BePositive();
            return total;
        })));

        granted.Sum().Should().Be(100);
        (await Node.RateLimits.TakeAsync("key_other", 100, 3, CancellationToken.None)).Granted.Should().Be(3, "each key has its own window");
    }

    [Fact]
    public async Task A_full_window_frees_permits_as_its_oldest_segment_leaves()
    {
        var other = await OpenAnotherNodeAsync();
        (await Node.RateLimits.TakeAsync("key_w", 10, 6, CancellationToken.None)).Granted.Should().Be(6);
        Time.Advance(TimeSpan.FromSeconds(20));
        (await other.RateLimits.TakeAsync("key_w", 10, 6, CancellationToken.None)).Granted.Should().Be(4);

        var refused = await Node.RateLimits.TakeAsync("key_w", 10, 1, CancellationToken.None);
        Time.Advance(refused.RetryAfter);
        var freed = await other.RateLimits.TakeAsync("key_w", 10, 10, CancellationToken.None);

        refused.Granted.Should().Be(0);
        // The store's clock starts 12:00:00, a segment's start: the first six leave the window at 12:01:00.
        refused.RetryAfter.Should().Be(TimeSpan.FromSeconds(40));
        freed.Granted.Should().Be(6, "the later four are still in the window");
    }
}
