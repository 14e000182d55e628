using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kinema.Core.Tenants;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd.Billing;

/// <summary>Credits, limits and the admin API through real HTTP on the real host.</summary>
public sealed class BillingHttpTests
{
    private const string FiveSecondsStd = """{"model":"kling-v3","prompt":"a dog on the beach","duration":5}""";

    private static readonly Dictionary<string, string?> BillingOn = new() { ["Kinema:Billing:Enabled"] = "true" };

    private static async Task<HttpClient> AdminAsync(KinemaTestServer server, int? rpm = null)
    {
        var created = await server.Services.GetRequiredService<IApiKeyStore>()
            .CreateAsync(new NewApiKey("ops", "ops", IsAdmin: true, RequestsPerMinute: rpm), CancellationToken.None);
        return server.ClientFor(created.Key);
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(expected, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

    [Fact]
    public async Task With_billing_off_nothing_changes()
    {
        await using var server = await KinemaTestServer.StartAsync();

        var id = await server.Alice.CreateAsync(FiveSecondsStd);
        var task = await server.Alice.GetTaskAsync(id);

        task.TryGetProperty("cost", out _).Should().BeFalse();
        task.TryGetProperty("refunded", out _).Should().BeFalse();
    }

    [Fact]
    public async Task A_create_the_balance_cannot_cover_is_402_in_the_envelope_and_writes_nothing()
    {
        await using var server = await KinemaTestServer.StartAsync(BillingOn);

        using var response = await PostAsync(server.Alice, "/v1/videos/generations",
            """{"model":"kling-v3","prompt":"x","mode":"pro","duration":5,"audio":true}""");
        var body = await JsonAsync(response, HttpStatusCode.PaymentRequired);

        var error = body.GetProperty("error");
        error.GetProperty("code").GetInt32().Should().Be(402);
        error.GetProperty("type").GetString().Should().Be("insufficient_quota");
        error.GetProperty("message").GetString().Should().Contain("costs 15 credits").And.Contain("balance is 0");
        using var list = await server.Alice.GetAsync("/v1/tasks");
        (await JsonAsync(list, HttpStatusCode.OK)).GetProperty("data").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task Granted_credits_pay_for_tasks_and_each_tenant_sees_only_its_own_ledger()
    {
        await using var server = await KinemaTestServer.StartAsync(BillingOn);
        using var admin = await AdminAsync(server);

        using var grant = await PostAsync(admin, "/v1/admin/tenants/alice/credits", """{"amount": 40, "note": "welcome"}""");
        var granted = await JsonAsync(grant, HttpStatusCode.OK);
        granted.GetProperty("tenant_id").GetString().Should().Be("alice");
        granted.GetProperty("balance").GetInt64().Should().Be(40);

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"x","mode":"pro","duration":5,"audio":true}""");
        (await server.Alice.GetTaskAsync(id)).GetProperty("cost").GetInt64().Should().Be(15, "5 s × (pro 2 + audio 1)");

        using var balance = await server.Alice.GetAsync("/v1/balance");
        var aliceBalance = await JsonAsync(balance, HttpStatusCode.OK);
        aliceBalance.GetProperty("tenant_id").GetString().Should().Be("alice");
        aliceBalance.GetProperty("balance").GetInt64().Should().Be(25);

        using var usage = await server.Alice.GetAsync("/v1/usage?limit=1");
        var page = await JsonAsync(usage, HttpStatusCode.OK);
        page.GetProperty("code").GetInt32().Should().Be(200);
        var newest = page.GetProperty("data")[0];
        newest.GetProperty("kind").GetString().Should().Be("charge");
        newest.GetProperty("amount").GetInt64().Should().Be(-15);
        newest.GetProperty("balance_after").GetInt64().Should().Be(25);
        newest.GetProperty("task_id").GetString().Should().Be(id);
        page.GetProperty("has_more").GetBoolean().Should().BeTrue();
        using var older = await server.Alice.GetAsync($"/v1/usage?limit=1&after={page.GetProperty("next_cursor").GetString()}");
        (await JsonAsync(older, HttpStatusCode.OK)).GetProperty("data")[0].GetProperty("kind").GetString().Should().Be("grant");

        using var bobUsage = await server.Bob.GetAsync("/v1/usage");
        (await JsonAsync(bobUsage, HttpStatusCode.OK)).GetProperty("data").GetArrayLength().Should().Be(0);
        using var bobBalance = await server.Bob.GetAsync("/v1/balance");
        (await JsonAsync(bobBalance, HttpStatusCode.OK)).GetProperty("balance").GetInt64().Should().Be(0);

        using var adminUsage = await admin.GetAsync("/v1/admin/usage");
        var tenants = (await JsonAsync(adminUsage, HttpStatusCode.OK)).GetProperty("data").EnumerateArray().ToList();
        var alice = tenants.Single(t => t.GetProperty("tenant_id").GetString() == "alice");
        alice.GetProperty("granted").GetInt64().Should().Be(40);
        alice.GetProperty("charged").GetInt64().Should().Be(15);
    }

    [Fact]
    public async Task A_tenant_whose_id_has_a_slash_is_reached_by_its_escaped_id()
    {
        await using var server = await KinemaTestServer.StartAsync(BillingOn);
        using var admin = await AdminAsync(server);
        using var created = await PostAsync(admin, "/v1/admin/tenants", """{"id":"team/ci"}""");
        (await JsonAsync(created, HttpStatusCode.OK)).GetProperty("tenant_id").GetString().Should().Be("team/ci");

        using var grant = await PostAsync(admin, "/v1/admin/tenants/team%2Fci/credits", """{"amount": 5}""");
        var granted = await JsonAsync(grant, HttpStatusCode.OK);

        granted.GetProperty("tenant_id").GetString().Should().Be("team/ci");
        granted.GetProperty("balance").GetInt64().Should().Be(5);
    }

    [Fact]
    public async Task Cancelling_a_task_no_upstream_accepted_refunds_it_and_says_so()
    {
        await using var server = await KinemaTestServer.StartAsync(BillingOn);
        using var admin = await AdminAsync(server);
        (await PostAsync(admin, "/v1/admin/tenants/alice/credits", """{"amount": 10}""")).Dispose();

        var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"long","mode":"pro","duration":5}""");
        using var cancel = await server.Alice.PostAsync($"/v1/tasks/{id}/cancel", null);
        var body = await JsonAsync(cancel, HttpStatusCode.OK);

        body.GetProperty("data").GetProperty("refunded").GetBoolean().Should().BeTrue();
        body.GetProperty("message").GetString().Should().Contain("refunded");
        using var balance = await server.Alice.GetAsync("/v1/balance");
        (await JsonAsync(balance, HttpStatusCode.OK)).GetProperty("balance").GetInt64().Should().Be(10);
    }

    [Fact]
    public async Task Admin_routes_answer_403_to_every_other_key()
    {
        await using var server = await KinemaTestServer.StartAsync(BillingOn);

        foreach (var (method, path) in new[] { ("GET", "/v1/admin/tenants"), ("GET", "/v1/admin/usage"), ("GET", "/v1/admin/keys"), ("POST", "/v1/admin/tenants/alice/credits") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path)
            {
                Content = method == "POST" ? new StringContent("""{"amount": 1000}""", System.Text.Encoding.UTF8, "application/json") : null,
            };
            using var response = await server.Alice.SendAsync(request);
            var error = (await JsonAsync(response, HttpStatusCode.Forbidden)).GetProperty("error");
            error.GetProperty("type").GetString().Should().Be("permission_error");
        }

        using var anonymous = await server.Anonymous.GetAsync("/v1/admin/tenants");
        anonymous.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        using var balance = await server.Alice.GetAsync("/v1/balance");
        (await JsonAsync(balance, HttpStatusCode.OK)).GetProperty("balance").GetInt64().Should().Be(0);
    }

    [Fact]
    public async Task Admins_make_tenants_and_keys_and_revoke_them()
    {
        await using var server = await KinemaTestServer.StartAsync(BillingOn);
        using var admin = await AdminAsync(server);

        using var tenant = await PostAsync(admin, "/v1/admin/tenants", """{"id": "carol", "max_in_flight": 2}""");
        (await JsonAsync(tenant, HttpStatusCode.OK)).GetProperty("max_in_flight").GetInt32().Should().Be(2);
        using var key = await PostAsync(admin, "/v1/admin/keys", """{"name": "carol-ci", "tenant": "carol", "rpm": 30}""");
        var created = await JsonAsync(key, HttpStatusCode.OK);
        created.GetProperty("rpm").GetInt32().Should().Be(30);
        created.GetProperty("admin").GetBoolean().Should().BeFalse();
        using var carol = server.ClientFor(created.GetProperty("key").GetString()!);
        using (var balance = await carol.GetAsync("/v1/balance"))
        {
            (await JsonAsync(balance, HttpStatusCode.OK)).GetProperty("tenant_id").GetString().Should().Be("carol");
        }

        using var overdraw = await PostAsync(admin, "/v1/admin/tenants/carol/credits", """{"amount": -1}""");
        (await JsonAsync(overdraw, HttpStatusCode.Conflict)).GetProperty("error").GetProperty("message").GetString().Should().Contain("below zero");
        using var unknown = await PostAsync(admin, "/v1/admin/tenants/nobody/credits", """{"amount": 5}""");
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
        using var wrongType = await PostAsync(admin, "/v1/admin/tenants/carol/credits", """{"amount": "5"}""");
        (await JsonAsync(wrongType, HttpStatusCode.BadRequest)).GetProperty("error").GetProperty("param").GetString().Should().Be("amount");

        using var revoke = await admin.DeleteAsync($"/v1/admin/keys/{created.GetProperty("id").GetString()}");
        revoke.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var list = await admin.GetAsync("/v1/admin/keys");
        (await JsonAsync(list, HttpStatusCode.OK)).GetProperty("data").EnumerateArray()
            .Single(k => k.GetProperty("name").GetString() == "carol-ci").GetProperty("revoked").ValueKind.Should().Be(JsonValueKind.Number);
    }

    [Fact]
    public async Task A_tenant_at_its_cap_on_tasks_in_flight_gets_429()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Scheduler:Workers"] = "1" });
        using var admin = await AdminAsync(server);
        (await PostAsync(admin, "/v1/admin/tenants", """{"id": "alice", "max_in_flight": 1}""")).Dispose();

        await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"long","mode":"pro","duration":15}""");
        using var second = await PostAsync(server.Alice, "/v1/videos/generations", FiveSecondsStd);

        var error = (await JsonAsync(second, HttpStatusCode.TooManyRequests)).GetProperty("error");
        error.GetProperty("type").GetString().Should().Be("rate_limit_error");
        error.GetProperty("message").GetString().Should().Contain("1 tasks pending or processing");
        second.Headers.RetryAfter.Should().NotBeNull();
        await server.Bob.CreateAsync(FiveSecondsStd); // another tenant is not held back
    }

    [Fact]
    public async Task A_key_over_its_requests_per_minute_gets_429_with_retry_after()
    {
        await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:RateLimits:RequestsPerMinute"] = "600" });
        var limited = await server.Services.GetRequiredService<IApiKeyStore>()
            .CreateAsync(new NewApiKey("slow", "slow", RequestsPerMinute: 3), CancellationToken.None);
        using var client = server.ClientFor(limited.Key);

        for (var i = 0; i < 3; i++)
        {
            using var ok = await client.GetAsync("/v1/tasks");
            ok.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        using var refused = await client.GetAsync("/v1/tasks");
        var error = (await JsonAsync(refused, HttpStatusCode.TooManyRequests)).GetProperty("error");
        error.GetProperty("type").GetString().Should().Be("rate_limit_error");
        error.GetProperty("message").GetString().Should().Contain("3 requests per minute");
        refused.Headers.RetryAfter!.Delta.Should().BeGreaterThan(TimeSpan.Zero);
        using var other = await server.Alice.GetAsync("/v1/tasks");
        other.StatusCode.Should().Be(HttpStatusCode.OK, "limits are per key");
    }
}
