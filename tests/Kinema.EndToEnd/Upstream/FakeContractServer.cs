using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Contracts.Rules;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kinema.EndToEnd.Upstream;

/// <summary>
/// An aggregator speaking our own contract (spec sections 1, 3, 3a), on loopback: bearer keys, the create and query
/// envelopes, the contract's rules, Idempotency-Key, statuses advancing as it is polled, cancel, injected 429/5xx.
/// </summary>
internal sealed class FakeContractServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _key;
    private readonly byte[] _video;
    private int _submissions;
    private int _polls;

    private FakeContractServer(WebApplication app, string key, byte[] video)
    {
        _app = app;
        _key = key;
        _video = video;
    }

    public Uri BaseAddress { get; private set; } = null!;
    public ConcurrentDictionary<string, FakeContractTask> Tasks { get; } = new();
    public ConcurrentQueue<int> SubmitFaults { get; } = new();
    public int Submissions => _submissions;
    public int Polls => _polls;
    public int PollsToFinish { get; set; } = 2;
    public TimeSpan SubmitDelayAfterRecording { get; set; }

    public static async Task<FakeContractServer> StartAsync(string key)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeContractServer(app, key, await TestVideo.GetAsync());
        app.MapPost("/v1/videos/generations", (HttpContext context, CancellationToken cancellationToken) => fake.SubmitAsync(context));
        app.MapGet("/v1/tasks/{id}", (string id, HttpContext context) => fake.Query(id, context));
        app.MapPost("/v1/tasks/{id}/cancel", (string id, HttpContext context) => fake.Cancel(id, context));
        app.MapGet("/results/{id}.mp4", (string id) => fake.Tasks.ContainsKey(id) ? Results.Bytes(fake._video, "video/mp4") : Results.NotFound());
        await app.StartAsync();
        fake.BaseAddress = new Uri(app.Urls.First());
        return fake;
    }

    private static IResult Error(int status, string type, string message) =>
        Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = status, ["type"] = type, ["message"] = message } }, statusCode: status);

    private bool Authorised(HttpContext context) => context.Request.Headers.Authorization.ToString() == "Bearer " + _key;

    private async Task<IResult> SubmitAsync(HttpContext context)
    {
        if (!Authorised(context))
        {
            return Error(401, "authentication_error", "invalid API key");
        }

        if (SubmitFaults.TryDequeue(out var status))
        {
            context.Response.Headers.RetryAfter = "1";
            return Error(status, status == 429 ? "rate_limit_error" : "server_error", "injected fault");
        }

        using var document = await JsonDocument.ParseAsync(context.Request.Body);
        var parsed = GenerationRequestRules.Parse(document.RootElement, new GenerationRuleOptions { AllowPrivateNetworks = true });
        if (!parsed.IsValid)
        {
            return Error(400, "invalid_request_error", parsed.Violations[0].Message);
        }

        var key = context.Request.Headers["Idempotency-Key"].ToString();
        var existing = key.Length > 0 ? Tasks.Values.FirstOrDefault(t => t.IdempotencyKey == key) : null;
        var task = existing ?? new FakeContractTask("task_" + Guid.NewGuid().ToString("N")[..26].ToUpperInvariant(), key);
        if (existing is null)
        {
            Tasks[task.Id] = task;
            Interlocked.Increment(ref _submissions);
        }

        if (SubmitDelayAfterRecording > TimeSpan.Zero)
        {
            await Task.Delay(SubmitDelayAfterRecording, context.RequestAborted);
        }

        return Results.Json(new JsonObject
        {
            ["code"] = 200,
            ["data"] = new JsonArray(new JsonObject { ["status"] = "submitted", ["task_id"] = task.Id }),
        });
    }

    private IResult Query(string id, HttpContext context)
    {
        if (!Authorised(context))
        {
            return Error(401, "authentication_error", "invalid API key");
        }

        Interlocked.Increment(ref _polls);
        if (!Tasks.TryGetValue(id, out var task))
        {
            return Error(404, "invalid_request_error", "task not found");
        }

        task.Polls++;
        if (task.Status is "pending" or "processing")
        {
            task.Status = task.Polls >= PollsToFinish ? "completed" : "processing";
        }

        var data = new JsonObject
        {
            ["id"] = task.Id,
            ["status"] = task.Status,
            ["progress"] = task.Status == "completed" ? 100 : 50,
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        };
        if (task.Status == "completed")
        {
            data["result"] = new JsonObject
            {
                ["videos"] = new JsonArray(new JsonObject
                {
                    ["url"] = new JsonArray(new Uri(BaseAddress, $"/results/{task.Id}.mp4").ToString()),
                    ["expires_at"] = DateTimeOffset.UtcNow.AddHours(24).ToUnixTimeSeconds(),
                }),
            };
        }

        return Results.Json(new JsonObject { ["code"] = 200, ["data"] = data });
    }

    private IResult Cancel(string id, HttpContext context)
    {
        if (!Authorised(context) || !Tasks.TryGetValue(id, out var task))
        {
            return Error(404, "invalid_request_error", "task not found");
        }

        task.Status = "cancelled";
        return Results.Json(new JsonObject { ["code"] = 200, ["data"] = new JsonObject { ["id"] = id, ["status"] = "cancelled" } });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal sealed class FakeContractTask(string id, string idempotencyKey)
{
    public string Id { get; } = id;
    public string IdempotencyKey { get; } = idempotencyKey;
    public string Status { get; set; } = "pending";
    public int Polls { get; set; }
}
