using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Webhooks;

/// <summary>Signed webhooks delivered at least once, through real HTTP, against a receiver that checks them independently.</summary>
public sealed class WebhookTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string?> FastRetries = new()
    {
        ["Kinema:Webhooks:RetryDelays:0"] = "00:00:00.200",
        ["Kinema:Webhooks:RetryDelays:1"] = "00:00:00.200",
        ["Kinema:Webhooks:RetryDelays:2"] = "00:00:00.200",
        ["Kinema:Webhooks:RetryDelays:3"] = "00:00:00.200",
    };

    private WebhookReceiver _receiver = null!;

    public async ValueTask InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async ValueTask DisposeAsync() => await _receiver.DisposeAsync();

    private static async Task<string> SecretAsync(HttpClient client)
    {
        using var document = JsonDocument.Parse(await client.GetStringAsync("/v1/webhooks/default/secret"));
        return document.RootElement.GetProperty("key").GetString()!;
    }

    private async Task WaitForAsync(Func<bool> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"receiver saw {_receiver.Deliveries.Count} deliveries");
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public void Signature_matches_the_published_standard_webhooks_test_vector()
    {
        var signature = Kinema.Core.Webhooks.WebhookSignature.Sign(
            "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=", "9876543210", 1781080794,
            """{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}""");

        signature.Should().Be("v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4=");
    }

    [Fact]
    public async Task A_callback_url_gets_the_signed_event_after_the_receiver_failed_for_a_while()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        _receiver.Secret = await SecretAsync(server.Alice);
        _receiver.Answer = n => n <= 2 ? 500 : 200;

        var id = await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"hook","duration":3,"callback_url":"{{_receiver.Url("task")}}"}""");
        await WaitForAsync(() => _receiver.Deliveries.Count >= 3);

        var deliveries = _receiver.Deliveries.ToList();
        deliveries.Should().AllSatisfy(d => d.SignatureValid.Should().BeTrue());
        deliveries.Select(d => d.Id).Distinct().Should().ContainSingle("webhook-id is stable across retries").Which.Should().StartWith("msg_");
        using var body = JsonDocument.Parse(deliveries[^1].Body);
        body.RootElement.GetProperty("type").GetString().Should().Be("task.completed");
        body.RootElement.GetProperty("timestamp").GetString().Should().NotBeNullOrEmpty();
        var data = body.RootElement.GetProperty("data");
        data.GetProperty("id").GetString().Should().Be(id);
        data.GetProperty("status").GetString().Should().Be("completed");
        data.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString().Should().Contain("/files/" + id);
        await Task.Delay(600);
        _receiver.Deliveries.Should().HaveCount(3, "nothing more is sent once a 2xx came back");
        using var list = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks/deliveries"));
        var delivery = list.RootElement.GetProperty("data")[0];
        delivery.GetProperty("status").GetString().Should().Be("delivered");
        delivery.GetProperty("attempts").GetInt32().Should().Be(3);
    }

    [Fact]
    public async Task Endpoints_receive_only_the_events_they_subscribed_to()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        using var created = await server.Alice.PostAsJsonAsync("/v1/webhooks", new { url = _receiver.Url("failures"), events = new[] { "task.failed" } });
        created.StatusCode.Should().Be(HttpStatusCode.OK, await created.Content.ReadAsStringAsync());
        using var endpoint = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        _receiver.Secret = endpoint.RootElement.GetProperty("secret").GetString();
        _receiver.Secret.Should().StartWith("whsec_");

        var ok = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"fine","duration":3}""");
        var bad = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"bad","duration":3,"image_urls":["http://127.0.0.1:9/missing.png"]}""");
        await server.Alice.WaitForTerminalAsync(ok);
        await server.Alice.WaitForTerminalAsync(bad);
        await WaitForAsync(() => !_receiver.Deliveries.IsEmpty);
        await Task.Delay(500);

        var received = _receiver.Deliveries.Single();
        received.SignatureValid.Should().BeTrue();
        using var body = JsonDocument.Parse(received.Body);
        body.RootElement.GetProperty("type").GetString().Should().Be("task.failed");
        body.RootElement.GetProperty("data").GetProperty("id").GetString().Should().Be(bad);
        body.RootElement.GetProperty("data").GetProperty("error").GetProperty("message").GetString().Should().Contain("image_urls[0]");
    }

    [Fact]
    public async Task A_tenant_at_its_cap_of_endpoints_gets_a_409_until_it_deletes_one()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:Webhooks:MaxEndpointsPerTenant"] = "3",
        });
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            using var created = await server.Alice.PostAsJsonAsync("/v1/webhooks", new { url = $"https://hooks.example.com/{i}" });
            created.StatusCode.Should().Be(HttpStatusCode.OK, await created.Content.ReadAsStringAsync());
            ids.Add(JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!);
        }

        using var fourth = await server.Alice.PostAsJsonAsync("/v1/webhooks", new { url = "https://hooks.example.com/4" });
        using var bobs = await server.Bob.PostAsJsonAsync("/v1/webhooks", new { url = "https://hooks.example.com/bob" });
        using var removed = await server.Alice.DeleteAsync($"/v1/webhooks/{ids[0]}");
        using var afterRemoval = await server.Alice.PostAsJsonAsync("/v1/webhooks", new { url = "https://hooks.example.com/5" });
        var listed = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks")).RootElement.GetProperty("data");

        var text = await fourth.Content.ReadAsStringAsync();
        fourth.StatusCode.Should().Be(HttpStatusCode.Conflict, text);
        JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString()
            .Should().Be("this tenant already has 3 webhook endpoints, the most this server allows (Kinema:Webhooks:MaxEndpointsPerTenant); delete one first");
        bobs.StatusCode.Should().Be(HttpStatusCode.OK, "another tenant's endpoints do not count");
        removed.StatusCode.Should().Be(HttpStatusCode.NoContent);
        afterRemoval.StatusCode.Should().Be(HttpStatusCode.OK, await afterRemoval.Content.ReadAsStringAsync());
        listed.EnumerateArray().Select(e => e.GetProperty("url").GetString()).Should()
            .BeEquivalentTo(["https://hooks.example.com/1", "https://hooks.example.com/2", "https://hooks.example.com/5"]);
    }

    [Fact]
    public async Task Redirects_are_failures_and_never_followed()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        _receiver.Secret = await SecretAsync(server.Alice);
        _receiver.Answer = n => n == 1 ? 302 : 200;

        await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"redirect","duration":3,"callback_url":"{{_receiver.Url("moved")}}"}""");
        await WaitForAsync(() => _receiver.Deliveries.Count >= 2);

        _receiver.RedirectTargetHits.Should().BeEmpty();
        _receiver.Deliveries.Should().HaveCount(2).And.AllSatisfy(d => d.Path.Should().Be("moved"));
    }

    [Fact]
    public async Task Gone_disables_the_endpoint()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        using var created = await server.Alice.PostAsJsonAsync("/v1/webhooks", new { url = _receiver.Url("gone") });
        _receiver.Answer = _ => 410;

        var first = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"one","duration":3}""");
        await WaitForAsync(() => _receiver.Deliveries.Count == 1);
        await Task.Delay(500);
        var second = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"two","duration":3}""");
        await server.Alice.WaitForTerminalAsync(second);
        await Task.Delay(1000);

        _receiver.Deliveries.Should().ContainSingle();
        using var list = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks"));
        list.RootElement.GetProperty("data")[0].GetProperty("status").GetString().Should().Be("disabled");
        first.Should().NotBe(second);
    }

    [Fact]
    public async Task A_failed_delivery_never_affects_the_task()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        _receiver.Answer = _ => 500;

        var id = await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"unaffected","duration":3,"callback_url":"{{_receiver.Url("down")}}"}""");
        var task = await server.Alice.WaitForTerminalAsync(id);
        await WaitForAsync(() => _receiver.Deliveries.Count >= 5);
        // The receiver answers the last attempt before the server records it: wait for the record, within a bound.
        string? deliveryStatus = null;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); deliveryStatus != "failed" && DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            using var list = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks/deliveries"));
            deliveryStatus = list.RootElement.GetProperty("data")[0].GetProperty("status").GetString();
        }

        task.GetProperty("status").GetString().Should().Be("completed");
        (await server.Alice.GetTaskAsync(id)).GetProperty("status").GetString().Should().Be("completed");
        deliveryStatus.Should().Be("failed");
        _receiver.Deliveries.Should().HaveCount(5, "a delivery given up after its attempts is not sent again");
    }

    [Fact]
    public async Task Replay_sends_a_delivery_again_with_the_same_id()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        _receiver.Secret = await SecretAsync(server.Alice);
        await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"replay","duration":3,"callback_url":"{{_receiver.Url("replay")}}"}""");
        await WaitForAsync(() => _receiver.Deliveries.Count == 1);
        using var list = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks/deliveries"));
        var deliveryId = list.RootElement.GetProperty("data")[0].GetProperty("id").GetString();

        using var replay = await server.Alice.PostAsync($"/v1/webhooks/deliveries/{deliveryId}/replay", null);
        await WaitForAsync(() => _receiver.Deliveries.Count == 2);

        replay.StatusCode.Should().Be(HttpStatusCode.Accepted);
        _receiver.Deliveries.Select(d => d.Id).Distinct().Should().ContainSingle().Which.Should().Be(deliveryId);
        _receiver.Deliveries.Should().AllSatisfy(d => d.SignatureValid.Should().BeTrue());
    }

    [Fact]
    public async Task The_delivery_list_pages_by_limit_and_refuses_a_bad_one_naming_it()
    {
        await using var server = await KinemaTestServer.StartAsync(FastRetries);
        _receiver.Secret = await SecretAsync(server.Alice);
        for (var i = 0; i < 3; i++)
        {
            await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"listed {{i}}","duration":3,"callback_url":"{{_receiver.Url("listed")}}"}""");
        }

        await WaitForAsync(() => _receiver.Deliveries.Count >= 3);
        using (var two = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks/deliveries?limit=2")))
        {
            two.RootElement.GetProperty("data").GetArrayLength().Should().Be(2);
        }

        using (var all = JsonDocument.Parse(await server.Alice.GetStringAsync("/v1/webhooks/deliveries?limit=500")))
        {
            all.RootElement.GetProperty("data").GetArrayLength().Should().Be(3);
        }

        foreach (var bad in new[] { "0", "-5", "501", "abc", "99999999999", "2.5" })
        {
            using var response = await server.Alice.GetAsync($"/v1/webhooks/deliveries?limit={bad}");
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, bad);
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            error.GetProperty("param").GetString().Should().Be("limit");
            error.GetProperty("message").GetString().Should().Be("limit must be an integer from 1 to 500");
        }
    }

    [Fact]
    public async Task A_delivery_survives_a_server_restart()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-webhook-restart", Guid.NewGuid().ToString("N"));
        var environment = new Dictionary<string, string>
        {
            ["KINEMA__WEBHOOKS__RETRYDELAYS__0"] = "00:00:01",
            ["KINEMA__WEBHOOKS__RETRYDELAYS__1"] = "00:00:01",
            ["KINEMA__WEBHOOKS__RETRYDELAYS__2"] = "00:00:01",
            ["KINEMA__WEBHOOKS__RETRYDELAYS__3"] = "00:00:01",
        };
        _receiver.Answer = _ => 503;
        string key;
        await using (var first = await ServerProcess.StartAsync(data, environment))
        {
            key = (await File.ReadAllTextAsync(new KinemaPaths(data).CliKey)).Trim();
            using var client = new HttpClient { BaseAddress = first.BaseAddress };
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            _receiver.Secret = await SecretAsync(client);
            var id = await client.CreateAsync($$"""{"model":"kling-v3","prompt":"restart","duration":3,"callback_url":"{{_receiver.Url("restart")}}"}""");
            await client.WaitForTerminalAsync(id);
            await WaitForAsync(() => !_receiver.Deliveries.IsEmpty);
            // The receiver answers before the server records the 503. Killed in between, the attempt is still claimed,
            // and it comes due again only when its claim runs out, which is the next test. Wait for the record.
            var attempts = 0;
            for (var deadline = DateTime.UtcNow.AddSeconds(30); attempts == 0 && DateTime.UtcNow < deadline; await Task.Delay(50))
            {
                using var list = JsonDocument.Parse(await client.GetStringAsync("/v1/webhooks/deliveries"));
                attempts = list.RootElement.GetProperty("data")[0].GetProperty("attempts").GetInt32();
            }

            attempts.Should().BeGreaterThan(0, "the failed attempt is recorded before the kill");
            await first.KillAsync();
        }

        var failedId = _receiver.Deliveries.First().Id;
        _receiver.Answer = _ => 200;
        await using (var second = await ServerProcess.StartAsync(data, environment))
        {
            await WaitForAsync(() => _receiver.Deliveries.Any(d => d.Path == "restart" && d.Id == failedId && _receiver.Deliveries.Count > 1), 60);
        }

        _receiver.Deliveries.Select(d => d.Id).Distinct().Should().ContainSingle();
        _receiver.Deliveries.Should().AllSatisfy(d => d.SignatureValid.Should().BeTrue());
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task A_delivery_in_flight_when_its_server_is_killed_is_sent_again_once_its_claim_runs_out()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-webhook-kill", Guid.NewGuid().ToString("N"));
        // The claim lasts the attempt's timeout and a margin (15 s): with a 2 s timeout, 17 s after the claim.
        var environment = new Dictionary<string, string> { ["KINEMA__WEBHOOKS__TIMEOUT"] = "00:00:02" };
        var hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _receiver.Hold = hang.Task;
        try
        {
            await using (var first = await ServerProcess.StartAsync(data, environment))
            {
                var key = (await File.ReadAllTextAsync(new KinemaPaths(data).CliKey)).Trim();
                using var client = new HttpClient { BaseAddress = first.BaseAddress };
                client.DefaultRequestHeaders.Authorization = new("Bearer", key);
                _receiver.Secret = await SecretAsync(client);
                var id = await client.CreateAsync($$"""{"model":"kling-v3","prompt":"killed mid-delivery","duration":3,"callback_url":"{{_receiver.Url("kill")}}"}""");
                await client.WaitForTerminalAsync(id);
                await WaitForAsync(() => !_receiver.Deliveries.IsEmpty);
                await first.KillAsync();
            }

            _receiver.Hold = null;
            var firstId = _receiver.Deliveries.First().Id;
            await using (var second = await ServerProcess.StartAsync(data, environment))
            {
                var restarted = DateTime.UtcNow;
                await WaitForAsync(() => _receiver.Deliveries.Count(d => d.Id == firstId) > 1, 45);
                (DateTime.UtcNow - restarted).Should().BeLessThan(TimeSpan.FromSeconds(30),
                    "the claim of an attempt that died with its server lasts its timeout and a margin, not minutes");
            }

            _receiver.Deliveries.Select(d => d.Id).Distinct().Should().ContainSingle("the same delivery is sent again, not a new one");
            _receiver.Deliveries.Should().AllSatisfy(d => d.SignatureValid.Should().BeTrue());
        }
        finally
        {
            hang.TrySetResult();
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }
}
