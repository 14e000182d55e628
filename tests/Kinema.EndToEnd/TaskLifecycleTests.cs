using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Kinema.Client;
using Kinema.Core.Tasks;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd;

/// <summary>Live progress over SSE, cancel in every state, and list pagination under concurrent inserts.</summary>
public sealed class TaskLifecycleTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private async Task<List<(string? Id, JsonElement Task)>> ReadEventsAsync(string taskId, string? lastEventId = null, int? stopAfter = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{taskId}/events");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using var response = await Server.Alice.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        await using var stream = await response.Content.ReadAsStreamAsync();
        var events = new List<(string?, JsonElement)>();
        await foreach (var item in SseParser.Create(stream).EnumerateAsync())
        {
            if (item.EventType != "task")
            {
                continue;
            }

            events.Add((item.EventId, JsonDocument.Parse(item.Data).RootElement.Clone()));
            if (events.Count == stopAfter)
            {
                break;
            }
        }

        return events;
    }

    [Fact]
    public async Task Events_stream_the_current_state_then_every_change_with_monotonic_progress_to_the_end()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"stream me","mode":"pro","duration":8}""");

        var events = await ReadEventsAsync(id);

        events.Count.Should().BeGreaterThan(3);
        events.Select(e => e.Task.GetProperty("progress").GetInt32()).Should().BeInAscendingOrder();
        events.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        events[^1].Task.GetProperty("status").GetString().Should().Be("completed");
        events[^1].Task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString().Should().Contain(id);
    }

    [Fact]
    public async Task Resuming_with_last_event_id_skips_nothing_after_it()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"resume me","mode":"pro","duration":8}""");
        var firstPart = await ReadEventsAsync(id, stopAfter: 2);

        var rest = await ReadEventsAsync(id, firstPart[^1].Id);

        rest.Should().NotBeEmpty();
        rest.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).Should()
            .AllSatisfy(v => v.Should().BeGreaterThan(long.Parse(firstPart[^1].Id!, System.Globalization.CultureInfo.InvariantCulture)));
        rest[0].Task.GetProperty("progress").GetInt32().Should().BeGreaterThanOrEqualTo(firstPart[^1].Task.GetProperty("progress").GetInt32());
        rest[^1].Task.GetProperty("status").GetString().Should().Be("completed");
    }

    [Fact]
    public async Task A_finished_task_streams_its_final_state_once_and_ends()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"done","duration":3}""");
        await Server.Alice.WaitForTerminalAsync(id);

        var events = await ReadEventsAsync(id);

        events.Should().ContainSingle().Which.Task.GetProperty("status").GetString().Should().Be("completed");
    }

    /// <summary>
    /// A client whose fallback polls come ten minutes apart: a watch that ends within the test's minute can only have
    /// followed the event stream.
    /// </summary>
    private KinemaClient StreamOnlyClient() => new(new KinemaClientOptions
    {
        BaseAddress = Server.BaseAddress,
        ApiKey = Server.AliceKey,
        PollInterval = TimeSpan.FromMinutes(10),
        MaxPollInterval = TimeSpan.FromMinutes(10),
    });

    [Fact]
    public async Task Sdk_watch_uses_the_stream()
    {
        using var client = StreamOnlyClient();
        var operation = await client.CreateAsync(GenerationRequests.TextToVideo("watch", duration: 6) with { Mode = "pro" });

        var seen = new List<Kinema.Contracts.Responses.TaskStatusData>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var task in client.WatchAsync(operation.Id, timeout.Token))
        {
            seen.Add(task);
        }

        seen.Count.Should().BeGreaterThan(2);
        seen.Select(t => t.Progress).Should().BeInAscendingOrder();
        seen[^1].Status.Should().Be("completed");
    }

    [Fact]
    public async Task Cancelling_a_pending_task_means_it_never_runs()
    {
        // Fill both workers with long renders so the next task waits in the queue.
        var busy = new[]
        {
            await Server.Bob.CreateAsync("""{"model":"kling-v3","prompt":"busy 1","mode":"pro","duration":15}"""),
            await Server.Bob.CreateAsync("""{"model":"kling-v3","prompt":"busy 2","mode":"pro","duration":15}"""),
        };
        var id = await Server.Bob.CreateAsync("""{"model":"kling-v3","prompt":"never runs","duration":3}""");

        using var cancel = await Server.Bob.PostAsync($"/v1/tasks/{id}/cancel", null);
        var body = JsonDocument.Parse(await cancel.Content.ReadAsStringAsync()).RootElement;

        cancel.StatusCode.Should().Be(HttpStatusCode.OK);
        body.GetProperty("data").GetProperty("status").GetString().Should().Be("cancelled");
        var stored = await Server.Services.GetRequiredService<ITaskStore>().GetAsync("bob", id, CancellationToken.None);
        stored!.Attempts.Should().Be(0, "a cancelled pending task is never claimed");
        stored.StartedAt.Should().BeNull();
        foreach (var task in busy)
        {
            using var stop = await Server.Bob.PostAsync($"/v1/tasks/{task}/cancel", null);
        }
    }

    [Fact]
    public async Task Cancelling_a_running_render_stops_it_and_cleans_up()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"stop me","mode":"pro","duration":15}""");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await Server.Alice.GetTaskAsync(id)).GetProperty("progress").GetInt32() < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        using var cancel = await Server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        await Task.Delay(1500);
        var task = await Server.Alice.GetTaskAsync(id);

        cancel.StatusCode.Should().Be(HttpStatusCode.OK);
        task.GetProperty("status").GetString().Should().Be("cancelled");
        task.TryGetProperty("result", out _).Should().BeFalse();
        Directory.Exists(Path.Combine(Server.Paths.Work, id)).Should().BeFalse("the render's scratch files are gone");
        File.Exists(Path.Combine(Server.Paths.Results, id, "video.mp4")).Should().BeFalse();
    }

    [Fact]
    public async Task Cancelling_a_finished_task_answers_409_with_its_status()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"done already","duration":3}""");
        await Server.Alice.WaitForTerminalAsync(id);

        using var cancel = await Server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        using var twice = await Server.Bob.PostAsync($"/v1/tasks/{id}/cancel", null);

        cancel.StatusCode.Should().Be(HttpStatusCode.Conflict);
        (await cancel.Content.ReadAsStringAsync()).Should().Contain("already completed");
        twice.StatusCode.Should().Be(HttpStatusCode.NotFound, "another tenant's task does not exist for it");
    }

    [Fact]
    public async Task Deleting_a_finished_task_removes_it_its_files_and_its_links_and_only_for_its_tenant()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"delete me","duration":3}""");
        var task = await Server.Alice.WaitForTerminalAsync(id);
        var link = task.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!;
        using (var before = await Server.Anonymous.GetAsync(link))
        {
            before.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        using var otherTenant = await Server.Bob.DeleteAsync($"/v1/tasks/{id}");
        otherTenant.StatusCode.Should().Be(HttpStatusCode.NotFound, "another tenant's task does not exist for it");
        (await Server.Alice.GetTaskAsync(id)).GetProperty("status").GetString().Should().Be("completed", "and it deleted nothing");

        using var deleted = await Server.Alice.DeleteAsync($"/v1/tasks/{id}");
        deleted.StatusCode.Should().Be(HttpStatusCode.OK);
        (await deleted.Content.ReadAsStringAsync()).Should().Be($$$"""{"code":200,"data":{"task_id":"{{{id}}}","deleted":true}}""");
        using var gone = await Server.Alice.GetAsync($"/v1/tasks/{id}");
        gone.StatusCode.Should().Be(HttpStatusCode.NotFound);
        using var deadLink = await Server.Anonymous.GetAsync(link);
        deadLink.StatusCode.Should().Be(HttpStatusCode.NotFound, "the signed link named files that are gone");
        Directory.Exists(Path.Combine(Server.Paths.Results, id)).Should().BeFalse();
        var listed = JsonDocument.Parse(await Server.Alice.GetStringAsync("/v1/tasks?limit=100")).RootElement.GetProperty("data");
        listed.EnumerateArray().Select(t => t.GetProperty("id").GetString()).Should().NotContain(id);

        using var again = await Server.Alice.DeleteAsync($"/v1/tasks/{id}");
        again.StatusCode.Should().Be(HttpStatusCode.NotFound);
        var error = JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        error.GetProperty("param").GetString().Should().Be("task_id");
        using var malformed = await Server.Alice.DeleteAsync("/v1/tasks/not-a-task-id");
        malformed.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Deleting_a_running_render_cancels_it_first_and_leaves_no_files()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"delete me while I render","mode":"pro","duration":15}""");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await Server.Alice.GetTaskAsync(id)).GetProperty("progress").GetInt32() < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        using var client = new KinemaClient(new KinemaClientOptions { BaseAddress = Server.BaseAddress, ApiKey = Server.AliceKey });
        await client.DeleteAsync(id);
        await Task.Delay(1500);

        var lookup = () => client.GetAsync(id);
        (await lookup.Should().ThrowAsync<KinemaException>()).Which.Status.Should().Be(404);
        Directory.Exists(Path.Combine(Server.Paths.Work, id)).Should().BeFalse("the render was stopped and its scratch files removed");
        Directory.Exists(Path.Combine(Server.Paths.Results, id)).Should().BeFalse();
        var deleteAgain = () => client.DeleteAsync(id);
        (await deleteAgain.Should().ThrowAsync<KinemaException>()).Which.Status.Should().Be(404);
    }

    [Fact]
    public async Task A_watched_task_deleted_through_the_api_ends_its_stream_saying_so()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"delete me while watched","mode":"pro","duration":15}""");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{id}/events");
        using var response = await Server.Alice.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<SseItem<string>>();
        var deleted = false;
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            events.Add(item);
            if (!deleted && item.EventType == "task" && JsonDocument.Parse(item.Data).RootElement.GetProperty("progress").GetInt32() >= 3)
            {
                using var delete = await Server.Alice.DeleteAsync($"/v1/tasks/{id}");
                delete.StatusCode.Should().Be(HttpStatusCode.OK);
                deleted = true;
            }
        }

        deleted.Should().BeTrue("the render was seen making progress, then deleted");
        var last = events[^1];
        // The stream may catch the cancel that a delete makes first, or only find the task gone: either way it says how
        // the task ended instead of stopping mid-render.
        if (last.EventType == "deleted")
        {
            last.Data.Should().Be($$$"""{"task_id":"{{{id}}}","deleted":true}""");
        }
        else
        {
            last.EventType.Should().Be("task");
            JsonDocument.Parse(last.Data).RootElement.GetProperty("status").GetString().Should().Be("cancelled");
        }
    }

    [Fact]
    public async Task A_watched_task_that_disappears_ends_the_stream_with_a_deleted_event_and_the_sdk_watch_with_a_404()
    {
        var store = Server.Services.GetRequiredService<ITaskStore>();
        var rawId = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"vanish while streamed","mode":"pro","duration":15}""");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/tasks/{rawId}/events");
        using var response = await Server.Alice.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            events.Add(item);
            if (events.Count == 1)
            {
                // Straight from the store, with no cancel before it: only the stream's own re-read can notice.
                (await store.DeleteAsync("alice", rawId, CancellationToken.None)).Should().BeTrue();
            }
        }

        events[0].EventType.Should().Be("task");
        events[^1].EventType.Should().Be("deleted");
        events[^1].Data.Should().Be($$$"""{"task_id":"{{{rawId}}}","deleted":true}""");

        using var client = StreamOnlyClient();
        var sdkId = (await client.CreateAsync(GenerationRequests.TextToVideo("vanish while watched", duration: 15) with { Mode = "pro" })).Id;
        var seen = new List<Kinema.Contracts.Responses.TaskStatusData>();
        var watch = async () =>
        {
            await foreach (var task in client.WatchAsync(sdkId, timeout.Token))
            {
                seen.Add(task);
                if (seen.Count == 1)
                {
                    (await store.DeleteAsync("alice", sdkId, CancellationToken.None)).Should().BeTrue();
                }
            }
        };

        var thrown = (await watch.Should().ThrowAsync<KinemaException>()).Which;
        thrown.Status.Should().Be(404);
        thrown.Param.Should().Be("task_id");
        thrown.Message.Should().Contain("was deleted while it was watched");
        // A worker may claim the task before the delete, so a processing update can be on its way behind the first state.
        seen.Should().NotBeEmpty().And.OnlyContain(task => task.Id == sdkId && task.Status != "completed");
    }

    [Fact]
    public async Task Listing_pages_10000_tasks_without_duplicates_or_gaps_while_others_are_inserted()
    {
        var key = (await Server.Services.GetRequiredService<Kinema.Core.Tenants.IApiKeyStore>().CreateAsync("bulk", null, CancellationToken.None)).Key;
        var store = Server.Services.GetRequiredService<ITaskStore>();
        var request = new Kinema.Contracts.Requests.GenerationRequest { Model = "kling-v3", Prompt = "bulk", Duration = 3 };
        var json = Kinema.Core.Storage.Sqlite.SqliteTaskStore.SerializeRequest(request);
        // Straight into the store as "cancelled", so 10,000 tasks cost no renders.
        var created = new List<string>();
        for (var batch = 0; batch < 10; batch++)
        {
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ =>
                store.CreateAsync(new NewTask("bulk", "animatic", request, null, "h", json), CancellationToken.None)));
            created.AddRange(outcomes.Select(o => o.Task!.Id));
            await Task.WhenAll(outcomes.Select(o => store.CancelAsync("bulk", o.Task!.Id, CancellationToken.None)));
        }

        using var client = Server.ClientFor(key);
        var listed = new List<string>();
        string? cursor = null;
        var pages = 0;
        using var inserting = new CancellationTokenSource();
        var inserter = Task.Run(async () =>
        {
            while (!inserting.IsCancellationRequested)
            {
                var outcome = await store.CreateAsync(new NewTask("bulk", "animatic", request, null, "h", json), CancellationToken.None);
                await store.CancelAsync("bulk", outcome.Task!.Id, CancellationToken.None);
            }
        });
        do
        {
            using var page = JsonDocument.Parse(await client.GetStringAsync($"/v1/tasks?limit=100&status=cancelled{(cursor is null ? "" : "&after=" + cursor)}"));
            var root = page.RootElement;
            root.GetProperty("code").GetInt32().Should().Be(200);
            listed.AddRange(root.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()!));
            cursor = root.GetProperty("has_more").GetBoolean() ? root.GetProperty("next_cursor").GetString() : null;
            pages++;
        }
        while (cursor is not null);
        await inserting.CancelAsync();
        await inserter;

        listed.Should().OnlyHaveUniqueItems();
        listed.Should().BeInDescendingOrder(StringComparer.Ordinal);
        listed.Should().Contain(created, "every task that existed when the listing began is listed once");
        pages.Should().BeGreaterThanOrEqualTo(100);
    }

    [Theory]
    [InlineData("/v1/tasks")]
    [InlineData("/v1/videos")]
    [InlineData("/v1/usage")]
    public async Task Every_list_takes_a_limit_from_1_to_100_and_refuses_others_in_the_same_words(string list)
    {
        foreach (var limit in new[] { "0", "101", "-1", "ten", "1.5", "" })
        {
            using var bad = await Server.Alice.GetAsync($"{list}?limit={limit}");
            var error = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            bad.StatusCode.Should().Be(HttpStatusCode.BadRequest, $"{list}?limit={limit}");
            error.GetProperty("param").GetString().Should().Be("limit");
            error.GetProperty("message").GetString().Should().Be("limit must be an integer from 1 to 100");
        }

        foreach (var limit in new[] { "1", "100" })
        {
            using var good = await Server.Alice.GetAsync($"{list}?limit={limit}");
            good.StatusCode.Should().Be(HttpStatusCode.OK, $"{list}?limit={limit}");
        }
    }

    [Fact]
    public async Task List_filters_and_refuses_bad_parameters()
    {
        using var bad = await Server.Alice.GetAsync("/v1/tasks?limit=0");
        using var badStatus = await Server.Alice.GetAsync("/v1/tasks?status=done");
        using var badCursor = await Server.Alice.GetAsync("/v1/tasks?after=../../x");
        using var filtered = await Server.Alice.GetAsync($"/v1/tasks?model=kling-v3&created_after={DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeSeconds()}");

        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await bad.Content.ReadAsStringAsync()).Should().Contain("\"param\":\"limit\"");
        badStatus.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        badCursor.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await filtered.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task The_openapi_document_describes_every_route()
    {
        using var document = JsonDocument.Parse(await Server.Anonymous.GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();

        paths.Should().Contain(["/v1/videos/generations", "/v1/tasks/{task_id}", "/v1/tasks", "/v1/tasks/{task_id}/cancel",
            "/v1/tasks/{task_id}/events", "/v1/webhooks/default/secret", "/v1/webhooks", "/v1/webhooks/deliveries"]);
    }
}
