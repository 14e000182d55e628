using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;

namespace Kinema.EndToEnd.Upstream;

/// <summary>
/// The official Kling API as documented (shared/spec/kling-official-api.md), on loopback: JWT verification, request
/// validation, the {code, message, request_id, data} envelope with millisecond timestamps, external_task_id lookups,
/// statuses advancing as it is polled, the documented error codes, injected 429s/5xx/garbage/slow answers, callbacks,
/// and result URLs serving a real MP4 until the fake "expires" them.
/// </summary>
internal sealed class FakeKlingServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _accessKey;
    private readonly byte[] _secret;
    private readonly byte[] _video;
    private long _nextId = 867283741759111000;
    private int _submissions;
    private int _polls;
    private readonly Lock _accepting = new();
    private (string Kind, string? External, JsonObject Body)? _lateAcceptance;

    private FakeKlingServer(WebApplication app, string accessKey, string secretKey, byte[] video)
    {
        _app = app;
        _accessKey = accessKey;
        _secret = Encoding.UTF8.GetBytes(secretKey);
        _video = video;
    }

    public Uri BaseAddress { get; private set; } = null!;
    public ConcurrentDictionary<string, FakeKlingTask> Tasks { get; } = new();
    public ConcurrentQueue<JsonObject> SubmittedBodies { get; } = new();
    public ConcurrentQueue<(int Status, int Code, string Message)> SubmitFaults { get; } = new();
    public ConcurrentQueue<string> PollFaults { get; } = new();
    public int Submissions => _submissions;
    public ConcurrentQueue<JsonObject> ElementBodies { get; } = new();
    public ConcurrentDictionary<string, long> Elements { get; } = new();
    public int Polls => _polls;
    public int RejectedTokens { get; private set; }
    public int PollsToFinish { get; set; } = 2;
    public bool NeverFinish { get; set; }
    public TimeSpan SubmitDelayAfterRecording { get; set; }

    /// <summary>
    /// The next send times out at the gateway (504) though the backend takes it: the task appears just after the first
    /// lookup for it misses, so a retry meets "external_task_id already exists".
    /// </summary>
    public bool NextSubmitAcceptedLate { get; set; }
    public bool ResultsDeleted { get; set; }
    public string? FailWithMessage { get; set; }

    /// <summary>While set and not completed, result downloads wait for it (an archive caught mid-download).</summary>
    public TaskCompletionSource? HoldResultDownloads { get; set; }

    /// <summary>Result downloads that began, and that were answered in full.</summary>
    public int ResultDownloadsStarted => _downloadsStarted;
    public int ResultDownloadsServed => _downloadsServed;
    private int _downloadsStarted;
    private int _downloadsServed;

    private async Task<IResult> ResultAsync(string id, CancellationToken cancellationToken)
    {
        if (ResultsDeleted || !Tasks.ContainsKey(id))
        {
            return Results.NotFound();
        }

        Interlocked.Increment(ref _downloadsStarted);
        if (HoldResultDownloads is { } hold)
        {
            await hold.Task.WaitAsync(cancellationToken);
        }

        Interlocked.Increment(ref _downloadsServed);
        return Results.Bytes(_video, "video/mp4");
    }

    public static async Task<FakeKlingServer> StartAsync(string accessKey, string secretKey)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeKlingServer(app, accessKey, secretKey, await TestVideo.GetAsync());
        app.MapPost("/v1/videos/{kind}", (string kind, HttpContext context) => fake.SubmitAsync(kind, context));
        app.MapPost("/v1/general/advanced-custom-elements", (HttpContext context, CancellationToken _) => fake.CreateElementAsync(context));
        app.MapGet("/v1/general/advanced-custom-elements/{id}", (string id, HttpContext context) => fake.QueryElement(id, context));
        app.MapGet("/v1/videos/{kind}/{id}", (string kind, string id, HttpContext context) => fake.Query(kind, id, context));
        app.MapGet("/results/{id}.mp4", (string id, CancellationToken cancellationToken) => fake.ResultAsync(id, cancellationToken));
        await app.StartAsync();
        fake.BaseAddress = new Uri(app.Urls.First());
        return fake;
    }

    private static IResult Error(int status, int code, string message) =>
        Results.Json(new JsonObject { ["code"] = code, ["message"] = message, ["request_id"] = Guid.NewGuid().ToString() }, statusCode: status);

    private static IResult Ok(JsonObject data) =>
        Results.Json(new JsonObject { ["code"] = 0, ["message"] = "SUCCEED", ["request_id"] = Guid.NewGuid().ToString(), ["data"] = data });

    private IResult? CheckToken(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            RejectedTokens++;
            return Error(401, 1001, "Authorization is empty");
        }

        var parts = header[7..].Split('.');
        if (parts.Length != 3)
        {
            RejectedTokens++;
            return Error(401, 1002, "Authorization is invalid");
        }

        var expected = WebEncoders.Base64UrlEncode(HMACSHA256.HashData(_secret, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1])));
        using var headerJson = JsonDocument.Parse(WebEncoders.Base64UrlDecode(parts[0]));
        using var claims = JsonDocument.Parse(WebEncoders.Base64UrlDecode(parts[1]));
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (headerJson.RootElement.GetProperty("alg").GetString() != "HS256" || expected != parts[2]
            || claims.RootElement.GetProperty("iss").GetString() != _accessKey)
        {
            RejectedTokens++;
            return Error(401, 1002, "Authorization is invalid");
        }

        if (claims.RootElement.GetProperty("nbf").GetInt64() > now)
        {
            RejectedTokens++;
            return Error(401, 1003, "Authorization is not yet valid");
        }

        if (claims.RootElement.GetProperty("exp").GetInt64() <= now)
        {
            RejectedTokens++;
            return Error(401, 1004, "Authorization has expired");
        }

        return null;
    }

    private async Task<IResult> SubmitAsync(string kind, HttpContext context)
    {
        if (CheckToken(context) is { } refused)
        {
            return refused;
        }

        if (kind is not ("text2video" or "image2video"))
        {
            return Error(404, 1202, "method invalid");
        }

        if (SubmitFaults.TryDequeue(out var fault))
        {
            if (fault.Code == -1)
            {
                return Results.Text("<html>502 Bad Gateway</html>", "text/html", statusCode: fault.Status);
            }

            if (fault.Code == -2)
            {
                await Task.Delay(TimeSpan.FromSeconds(fault.Status));
                return Error(504, 5002, "timeout");
            }

            context.Response.Headers.RetryAfter = "1";
            return Error(fault.Status, fault.Code, fault.Message);
        }

        JsonObject body;
        try
        {
            body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        }
        catch (JsonException)
        {
            return Error(400, 1200, "invalid request body");
        }

        if (Validate(kind, body) is { } invalid)
        {
            return Error(400, 1201, invalid);
        }

        if (body["prompt"]?.GetValue<string>().Contains("forbidden", StringComparison.Ordinal) == true)
        {
            return Error(400, 1301, "content security policy: the prompt was refused");
        }

        FakeKlingTask task;
        lock (_accepting)
        {
            // external_task_id is unique per account: checked and taken in one step, as two racing sends would be.
            var external = body["external_task_id"]?.GetValue<string>();
            if (external is not null && (Tasks.Values.Any(t => t.ExternalTaskId == external) || _lateAcceptance?.External == external))
            {
                return Error(400, 1201, "external_task_id already exists");
            }

            if (NextSubmitAcceptedLate)
            {
                NextSubmitAcceptedLate = false;
                _lateAcceptance = (kind, external, body);
                return Error(504, 5002, "gateway timeout");
            }

            task = Accept(kind, external, body);
        }

        if (SubmitDelayAfterRecording > TimeSpan.Zero)
        {
            // The task exists upstream, but the answer is late: a client killed now never learns the id.
            try
            {
                await Task.Delay(SubmitDelayAfterRecording, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return Results.Empty;
            }
        }

        return Ok(TaskData(task, withResult: false));
    }

    private FakeKlingTask Accept(string kind, string? external, JsonObject body)
    {
        var id = Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var task = new FakeKlingTask(id, kind, external, body["callback_url"]?.GetValue<string>());
        Tasks[id] = task;
        SubmittedBodies.Enqueue(body);
        Interlocked.Increment(ref _submissions);
        return task;
    }

    private async Task<IResult> CreateElementAsync(HttpContext context)
    {
        if (CheckToken(context) is { } refused)
        {
            return refused;
        }

        var body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        var name = body["element_name"]?.GetValue<string>();
        var description = body["element_description"]?.GetValue<string>();
        var images = body["element_image_list"] as JsonObject;
        if (string.IsNullOrEmpty(name) || name.Length > 20 || string.IsNullOrEmpty(description) || description.Length > 100
            || body["reference_type"]?.GetValue<string>() != "image_refer" || string.IsNullOrEmpty(images?["frontal_image"]?.GetValue<string>())
            || images!["refer_images"] is not JsonArray references || references.Count is < 1 or > 3)
        {
            return Error(400, 1201, "invalid element parameters");
        }

        ElementBodies.Enqueue(body);
        var job = "el" + Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Elements[job] = 700000 + Elements.Count;
        return Ok(new JsonObject { ["task_id"] = job, ["task_status"] = "submitted" });
    }

    private IResult QueryElement(string id, HttpContext context)
    {
        if (CheckToken(context) is { } refused)
        {
            return refused;
        }

        return Elements.TryGetValue(id, out var elementId)
            ? Ok(new JsonObject
            {
                ["task_id"] = id,
                ["task_status"] = "succeed",
                ["task_result"] = new JsonObject { ["elements"] = new JsonArray(new JsonObject { ["element_id"] = elementId }) },
            })
            : Error(404, 1203, "element task not found");
    }

    private static string? Validate(string kind, JsonObject body)
    {
        if (body["model_name"]?.GetValue<string>() != "kling-v3")
        {
            return "model_name must be kling-v3";
        }

        if (body["duration"] is not JsonValue duration || !duration.TryGetValue<string>(out var seconds)
            || !int.TryParse(seconds, out var value) || value is < 3 or > 15)
        {
            return "duration must be a string from \"3\" to \"15\"";
        }

        if (body["mode"]?.GetValue<string>() is not ("std" or "pro" or "4k"))
        {
            return "mode is invalid";
        }

        if (body["sound"]?.GetValue<string>() is not ("on" or "off"))
        {
            return "sound must be on or off";
        }

        var multiShot = body["multi_shot"]?.GetValue<bool>() == true;
        if (multiShot)
        {
            if (body["shot_type"]?.GetValue<string>() is not ("customize" or "intelligence"))
            {
                return "shot_type is invalid";
            }

            if (body["multi_prompt"] is JsonArray shots && shots.Any(s => s?["duration"] is not JsonValue d || !d.TryGetValue<string>(out _)))
            {
                return "multi_prompt duration must be a string";
            }
        }
        else if (string.IsNullOrEmpty(body["prompt"]?.GetValue<string>()))
        {
            return "prompt is required";
        }

        if (kind == "image2video")
        {
            var image = body["image"]?.GetValue<string>();
            if (string.IsNullOrEmpty(image) || image.StartsWith("data:", StringComparison.Ordinal))
            {
                return "image must be a URL or raw base64";
            }

            if (body["aspect_ratio"] is not null)
            {
                return "aspect_ratio is not a parameter of image2video";
            }

            if (body["element_list"] is JsonArray list && (list.Count > 3 || list.Any(e => e?["element_id"] is not JsonValue)))
            {
                return "element_list takes at most 3 {element_id} entries";
            }
        }
        else if (body["aspect_ratio"]?.GetValue<string>() is not ("16:9" or "9:16" or "1:1"))
        {
            return "aspect_ratio is invalid";
        }
        else if (body["element_list"] is not null)
        {
            return "element_list is a parameter of image2video only";
        }

        return null;
    }

    private IResult Query(string kind, string id, HttpContext context)
    {
        if (CheckToken(context) is { } refused)
        {
            return refused;
        }

        Interlocked.Increment(ref _polls);
        if (PollFaults.TryDequeue(out var fault))
        {
            return fault == "garbage" ? Results.Text("{not json", "application/json") : Error(503, 5001, "maintenance");
        }

        var task = Tasks.TryGetValue(id, out var byId) ? byId : Tasks.Values.FirstOrDefault(t => t.ExternalTaskId == id);
        if (task is null || task.Kind != kind)
        {
            lock (_accepting)
            {
                // The backend catches up with the send its gateway timed out on, just after this lookup missed it.
                if (_lateAcceptance is { } late && late.External == id)
                {
                    _lateAcceptance = null;
                    Accept(late.Kind, late.External, late.Body);
                }
            }

            return Error(404, 1203, "task not found");
        }

        task.Polls++;
        if (!NeverFinish && task.Status is "submitted" or "processing")
        {
            task.Status = task.Polls >= PollsToFinish ? (FailWithMessage is null ? "succeed" : "failed") : "processing";
        }

        return Ok(TaskData(task, withResult: task.Status == "succeed"));
    }

    /// <summary>Finishes a task now and calls the callback URL the task was submitted with.</summary>
    public async Task<DateTimeOffset> CompleteWithCallbackAsync(string upstreamId)
    {
        var task = Tasks[upstreamId];
        task.Status = "succeed";
        var sentAt = DateTimeOffset.UtcNow;
        if (task.CallbackUrl is { } callback)
        {
            using var client = new HttpClient();
            using var response = await client.PostAsync(callback,
                new StringContent(TaskData(task, withResult: true).ToJsonString(), Encoding.UTF8, "application/json"));
        }

        return sentAt;
    }

    private JsonObject TaskData(FakeKlingTask task, bool withResult)
    {
        var data = new JsonObject
        {
            ["task_id"] = task.Id,
            ["task_status"] = task.Status,
            ["task_info"] = new JsonObject { ["external_task_id"] = task.ExternalTaskId },
            ["created_at"] = task.CreatedAt,
            ["updated_at"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
        if (task.Status == "failed")
        {
            data["task_status_msg"] = FailWithMessage;
        }

        if (withResult)
        {
            data["task_result"] = new JsonObject
            {
                ["videos"] = new JsonArray(new JsonObject
                {
                    ["id"] = "v" + task.Id,
                    ["url"] = new Uri(BaseAddress, $"/results/{task.Id}.mp4").ToString(),
                    ["duration"] = "2.0",
                }),
            };
        }

        return data;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal sealed class FakeKlingTask(string id, string kind, string? externalTaskId, string? callbackUrl)
{
    public string Id { get; } = id;
    public string Kind { get; } = kind;
    public string? ExternalTaskId { get; } = externalTaskId;
    public string? CallbackUrl { get; } = callbackUrl;
    public string Status { get; set; } = "submitted";
    public int Polls { get; set; }
    public long CreatedAt { get; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
