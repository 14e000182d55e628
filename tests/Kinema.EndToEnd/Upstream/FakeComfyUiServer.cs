using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kinema.EndToEnd.Upstream;

/// <summary>
/// A ComfyUI server on loopback, speaking its HTTP API as <c>server.py</c> does: <c>POST /prompt</c> with its validation
/// (unknown node types, unfilled or mistyped inputs, missing images, no output node: 400 with <c>error</c> and
/// <c>node_errors</c>), <c>GET /history[/{id}]</c>, <c>GET /queue</c> with its <c>[number, prompt_id, prompt,
/// extra_data, outputs]</c> items, <c>POST /queue</c> delete, <c>POST /interrupt</c>, <c>POST /upload/image</c> and
/// <c>GET /view</c>, and the <c>/ws?clientId=</c> socket that sends a prompt's <c>progress</c> events to the client id
/// that queued it. One "GPU" runs the queue in order and renders what the graph asks for (its width, height, frame
/// count and fps) with the real ffmpeg. Faults: 5xx answers, a slow answer after the prompt was queued, execution
/// errors, a restart that forgets everything, and the older releases that pick their own prompt ids.
/// </summary>
internal sealed class FakeComfyUiServer : IAsyncDisposable
{
    private static readonly HashSet<string> KnownNodes =
    [
        "UNETLoader", "CLIPLoader", "VAELoader", "ModelSamplingSD3", "CLIPTextEncode", "Wan22ImageToVideoLatent", "KSampler",
        "VAEDecode", "CreateVideo", "SaveVideo", "LoadImage",
    ];

    private static readonly HashSet<string> OutputNodes = ["SaveVideo"];
    private static readonly string[] IntegerInputs = ["width", "height", "length", "batch_size", "seed", "steps"];

    private readonly WebApplication _app;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kinema-fake-comfyui", Guid.NewGuid().ToString("N"));
    private readonly Lock _gate = new();
    private readonly List<FakePrompt> _pending = [];
    private readonly Dictionary<string, JsonObject> _history = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _work = new(0);
    private readonly CancellationTokenSource _stop = new();
    private FakePrompt? _running;
    private Task _gpu = Task.CompletedTask;
    private int _number;
    private int _generation;

    private FakeComfyUiServer(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>True for releases that take the client's prompt_id; false for older ones that make their own.</summary>
    public bool HonorsPromptId { get; set; } = true;

    /// <summary>How long the GPU works on one prompt.</summary>
    public TimeSpan RunTime { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>While true, nothing leaves the queue.</summary>
    public bool Paused { get; set; }

    /// <summary>Statuses answered to the next /prompt calls, before anything is queued.</summary>
    public ConcurrentQueue<int> SubmitFaults { get; } = new();

    /// <summary>A queued prompt's answer is held this long (the client may give up on it; the prompt stays queued).</summary>
    public TimeSpan SubmitAnswerDelay { get; set; }

    /// <summary>The exception message the sampler raises on the next prompt run.</summary>
    public string? FailNextRunWith { get; set; }

    /// <summary>Every prompt queued, in order.</summary>
    public ConcurrentQueue<FakePrompt> Queued { get; } = new();

    /// <summary>Images uploaded into the input folder, by name.</summary>
    public ConcurrentDictionary<string, byte[]> Uploads { get; } = new(StringComparer.Ordinal);

    /// <summary>WebSockets connected, by their clientId.</summary>
    public ConcurrentDictionary<string, System.Net.WebSockets.WebSocket> Sockets { get; } = new(StringComparer.Ordinal);

    /// <summary>Interrupts received, with the prompt id they named.</summary>
    public ConcurrentQueue<string?> Interrupts { get; } = new();

    public static async Task<FakeComfyUiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeComfyUiServer(app);
        Directory.CreateDirectory(Path.Combine(fake._root, "output"));
        app.UseWebSockets();
        app.Map("/ws", (HttpContext context, CancellationToken cancellationToken) => fake.SocketAsync(context));
        app.MapPost("/prompt", (HttpContext context, CancellationToken cancellationToken) => fake.PostPromptAsync(context));
        app.MapGet("/history", (int? max_items) => fake.History(null, max_items));
        app.MapGet("/history/{id}", (string id) => fake.History(id, null));
        app.MapGet("/queue", () => fake.Queue());
        app.MapPost("/queue", (HttpContext context, CancellationToken cancellationToken) => fake.PostQueueAsync(context));
        app.MapPost("/interrupt", (HttpContext context, CancellationToken cancellationToken) => fake.InterruptAsync(context));
        app.MapPost("/upload/image", (HttpContext context, CancellationToken cancellationToken) => fake.UploadAsync(context));
        app.MapGet("/view", (string? filename, string? subfolder, string? type) => fake.View(filename, subfolder, type));
        await app.StartAsync();
        fake.BaseAddress = new Uri(app.Urls.First());
        fake._gpu = Task.Run(fake.RunGpuAsync);
        return fake;
    }

    /// <summary>The prompts queued for one Kinema task (by the task id in extra_data).</summary>
    public IReadOnlyList<FakePrompt> PromptsFor(string taskId) =>
        Queued.Where(prompt => prompt.ExtraData["kinema_task_id"]?.GetValue<string>() == taskId).ToList();

    public bool IsPending(string promptId)
    {
        lock (_gate)
        {
            return _pending.Any(prompt => prompt.Id == promptId);
        }
    }

    /// <summary>A ComfyUI restart: the queue and history live in memory only.</summary>
    public void Restart()
    {
        lock (_gate)
        {
            _pending.Clear();
            _history.Clear();
            _generation++;
            if (_running is { } running)
            {
                running.Interrupted = true;
            }
        }
    }

    private static IResult Invalid(string type, string message, string details, JsonNode? nodeErrors = null) =>
        Results.Json(new JsonObject
        {
            ["error"] = new JsonObject { ["type"] = type, ["message"] = message, ["details"] = details, ["extra_info"] = new JsonObject() },
            ["node_errors"] = nodeErrors ?? new JsonObject(),
        }, statusCode: 400);

    private async Task<IResult> PostPromptAsync(HttpContext context)
    {
        if (SubmitFaults.TryDequeue(out var status))
        {
            return Results.Text("500 Internal Server Error\n\nServer got itself in trouble", "text/plain", statusCode: status);
        }

        JsonObject body;
        try
        {
            body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        }
        catch (JsonException)
        {
            return Results.Text("invalid JSON", statusCode: 400);
        }

        if (body["prompt"] is not JsonObject graph)
        {
            return Invalid("no_prompt", "No prompt provided", "No prompt provided");
        }

        if (Validate(graph) is { } invalid)
        {
            return invalid;
        }

        var id = HonorsPromptId && body["prompt_id"] is JsonValue given ? given.GetValue<string>() : Guid.NewGuid().ToString("D");
        // As server.py does: the client_id travels in extra_data, and decides which socket hears the prompt's progress.
        var extraData = body["extra_data"]?.DeepClone() as JsonObject ?? new JsonObject();
        if (body["client_id"] is JsonValue clientId)
        {
            extraData["client_id"] = clientId.GetValue<string>();
        }

        var prompt = new FakePrompt(id, Interlocked.Increment(ref _number), graph, extraData);
        lock (_gate)
        {
            _pending.Add(prompt);
        }

        Queued.Enqueue(prompt);
        _work.Release();
        if (SubmitAnswerDelay > TimeSpan.Zero)
        {
            await Task.Delay(SubmitAnswerDelay);
        }

        return Results.Json(new JsonObject { ["prompt_id"] = id, ["number"] = prompt.Number, ["node_errors"] = new JsonObject() });
    }

    /// <summary>What ComfyUI's validate_prompt refuses, in its answer's shape.</summary>
    private IResult? Validate(JsonObject graph)
    {
        foreach (var (id, node) in graph)
        {
            var type = node?["class_type"]?.GetValue<string>();
            if (type is null || !KnownNodes.Contains(type))
            {
                return Invalid("invalid_prompt", $"Cannot execute because node {type} does not exist.", $"Node ID '#{id}'");
            }
        }

        if (!graph.Any(pair => OutputNodes.Contains(pair.Value!["class_type"]!.GetValue<string>())))
        {
            return Invalid("prompt_no_outputs", "Prompt has no outputs", "");
        }

        var nodeErrors = new JsonObject();
        foreach (var (id, node) in graph)
        {
            var errors = new JsonArray();
            foreach (var (name, value) in node!["inputs"]!.AsObject())
            {
                if (value is JsonArray link)
                {
                    if (link.Count != 2 || !graph.ContainsKey(link[0]!.ToString()))
                    {
                        errors.Add(Error("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]", name));
                    }
                }
                else if (IntegerInputs.Contains(name) && (value is not JsonValue number || number.GetValueKind() != JsonValueKind.Number))
                {
                    errors.Add(Error("invalid_input_type", "Failed to convert an input value to a INT value", $"{name}, {value?.ToJsonString()}"));
                }
                else if (value is JsonValue text && text.GetValueKind() == JsonValueKind.String && text.GetValue<string>().Contains("{{", StringComparison.Ordinal))
                {
                    errors.Add(Error("value_not_valid", "Value not in list", $"{name}: '{text}'"));
                }
            }

            if (node["class_type"]!.GetValue<string>() == "LoadImage" && node["inputs"]?["image"]?.GetValue<string>() is { } image && !Uploads.ContainsKey(image))
            {
                errors.Add(Error("custom_validation_failed", "Custom validation failed for node", $"image - Invalid image file: {image}"));
            }

            if (errors.Count > 0)
            {
                nodeErrors[id] = new JsonObject
                {
                    ["errors"] = errors, ["dependent_outputs"] = new JsonArray(), ["class_type"] = node["class_type"]!.GetValue<string>(),
                };
            }
        }

        return nodeErrors.Count > 0
            ? Invalid("prompt_outputs_failed_validation", "Prompt outputs failed validation", "", nodeErrors)
            : null;

        static JsonObject Error(string type, string message, string details) =>
            new() { ["type"] = type, ["message"] = message, ["details"] = details, ["extra_info"] = new JsonObject() };
    }

    private async Task SocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }

        var clientId = context.Request.Query["clientId"].ToString() is { Length: > 0 } given ? given : Guid.NewGuid().ToString("N");
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        Sockets[clientId] = socket;
        await SendAsync(clientId, new JsonObject
        {
            ["type"] = "status",
            ["data"] = new JsonObject { ["status"] = new JsonObject { ["exec_info"] = new JsonObject { ["queue_remaining"] = 0 } }, ["sid"] = clientId },
        });
        var buffer = new byte[1024];
        try
        {
            while (socket.State == System.Net.WebSockets.WebSocketState.Open
                   && (await socket.ReceiveAsync(buffer, _stop.Token)).MessageType != System.Net.WebSockets.WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or System.Net.WebSockets.WebSocketException)
        {
        }
        finally
        {
            Sockets.TryRemove(clientId, out _);
        }
    }

    private async Task SendAsync(string? clientId, JsonObject message)
    {
        if (clientId is null || !Sockets.TryGetValue(clientId, out var socket))
        {
            return;
        }

        try
        {
            await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(message.ToJsonString()), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        }
        catch (Exception exception) when (exception is System.Net.WebSockets.WebSocketException or ObjectDisposedException)
        {
        }
    }

    private IResult History(string? id, int? maxItems)
    {
        lock (_gate)
        {
            var answer = new JsonObject();
            foreach (var (key, entry) in _history.Where(pair => id is null || pair.Key == id).TakeLast(maxItems ?? int.MaxValue))
            {
                answer[key] = entry.DeepClone();
            }

            return Results.Json(answer);
        }
    }

    private IResult Queue()
    {
        lock (_gate)
        {
            return Results.Json(new JsonObject
            {
                ["queue_running"] = new JsonArray(_running is { Interrupted: false } running ? [running.Item()] : []),
                ["queue_pending"] = new JsonArray(_pending.Select(prompt => (JsonNode)prompt.Item()).ToArray()),
            });
        }
    }

    private async Task<IResult> PostQueueAsync(HttpContext context)
    {
        var body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        if (body["delete"] is JsonArray delete)
        {
            var ids = delete.Select(id => id!.GetValue<string>()).ToHashSet();
            lock (_gate)
            {
                _pending.RemoveAll(prompt => ids.Contains(prompt.Id));
            }
        }

        return Results.Ok();
    }

    private async Task<IResult> InterruptAsync(HttpContext context)
    {
        var body = context.Request.ContentLength > 0 ? (await JsonNode.ParseAsync(context.Request.Body)) as JsonObject : null;
        var id = body?["prompt_id"]?.GetValue<string>();
        Interrupts.Enqueue(id);
        lock (_gate)
        {
            if (_running is { } running && (id is null || running.Id == id))
            {
                running.Interrupted = true;
            }
        }

        return Results.Ok();
    }

    private async Task<IResult> UploadAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync();
        var image = form.Files.GetFile("image");
        if (image is null || string.IsNullOrEmpty(image.FileName))
        {
            return Results.StatusCode(400);
        }

        using var buffer = new MemoryStream();
        await image.CopyToAsync(buffer);
        Uploads[image.FileName] = buffer.ToArray();
        return Results.Json(new JsonObject { ["name"] = image.FileName, ["subfolder"] = "", ["type"] = form["type"].ToString() is { Length: > 0 } t ? t : "input" });
    }

    private IResult View(string? filename, string? subfolder, string? type)
    {
        if (string.IsNullOrEmpty(filename) || filename.Contains("..", StringComparison.Ordinal) || type != "output"
            || (subfolder ?? "").Contains("..", StringComparison.Ordinal))
        {
            return Results.StatusCode(400);
        }

        var path = Path.Combine(_root, "output", subfolder ?? "", filename);
        return File.Exists(path) ? Results.File(path, "video/mp4", enableRangeProcessing: true) : Results.NotFound();
    }

    private async Task RunGpuAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _work.WaitAsync(TimeSpan.FromMilliseconds(50), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            FakePrompt? prompt;
            int generation;
            lock (_gate)
            {
                generation = _generation;
                prompt = Paused || _running is not null ? null : _pending.FirstOrDefault();
                if (prompt is not null)
                {
                    _pending.Remove(prompt);
                    _running = prompt;
                }
            }

            if (prompt is null)
            {
                continue;
            }

            var entry = await RunAsync(prompt);
            lock (_gate)
            {
                if (ReferenceEquals(_running, prompt))
                {
                    _running = null;
                }

                // A restart while it ran forgets it, as ComfyUI's in-memory history does.
                if (generation == _generation)
                {
                    _history[prompt.Id] = entry;
                }
            }

            _work.Release();
        }
    }

    /// <summary>Runs one prompt: its history entry.</summary>
    private async Task<JsonObject> RunAsync(FakePrompt prompt)
    {
        var clientId = prompt.ExtraData["client_id"]?.GetValue<string>();
        var (samplerId, sampler) = prompt.Graph.First(pair => pair.Value!["class_type"]!.GetValue<string>() == "KSampler");
        var steps = sampler!["inputs"]!["steps"]!.GetValue<int>();
        await SendAsync(clientId, new JsonObject { ["type"] = "execution_start", ["data"] = new JsonObject { ["prompt_id"] = prompt.Id } });
        var clock = Stopwatch.StartNew();
        var step = 0;
        while (clock.Elapsed < RunTime && !prompt.Interrupted)
        {
            await Task.Delay(20);
            var reached = (int)(steps * clock.Elapsed.TotalMilliseconds / Math.Max(1, RunTime.TotalMilliseconds));
            if (reached > step && reached <= steps)
            {
                step = reached;
                await SendAsync(clientId, new JsonObject
                {
                    ["type"] = "progress",
                    ["data"] = new JsonObject { ["value"] = step, ["max"] = steps, ["prompt_id"] = prompt.Id, ["node"] = samplerId },
                });
            }
        }

        var messages = new JsonArray(Message("execution_start", prompt.Id));
        if (prompt.Interrupted)
        {
            messages.Add(Message("execution_interrupted", prompt.Id));
            return Entry(prompt, "error", messages, new JsonObject());
        }

        if (FailNextRunWith is { } failure)
        {
            FailNextRunWith = null;
            var error = Message("execution_error", prompt.Id);
            error[1]!["node_id"] = samplerId;
            error[1]!["node_type"] = "KSampler";
            error[1]!["exception_message"] = failure + "\n";
            error[1]!["exception_type"] = "torch.OutOfMemoryError";
            error[1]!["traceback"] = new JsonArray("  File \"execution.py\", line 496, in execute\n");
            messages.Add(error);
            return Entry(prompt, "error", messages, new JsonObject());
        }

        var latent = prompt.Graph.Select(pair => pair.Value!["inputs"]!.AsObject()).First(inputs => inputs.ContainsKey("width") && inputs.ContainsKey("length"));
        var fps = prompt.Graph.Select(pair => pair.Value!).First(node => node["class_type"]!.GetValue<string>() == "CreateVideo")["inputs"]!["fps"]!.GetValue<double>();
        var (saveId, save) = prompt.Graph.First(pair => pair.Value!["class_type"]!.GetValue<string>() == "SaveVideo");
        var prefix = save!["inputs"]!["filename_prefix"]!.GetValue<string>();
        var subfolder = Path.GetDirectoryName(prefix) ?? "";
        var filename = $"{Path.GetFileName(prefix)}_00001_.mp4";
        Directory.CreateDirectory(Path.Combine(_root, "output", subfolder));
        await RenderAsync(Path.Combine(_root, "output", subfolder, filename), latent["width"]!.GetValue<int>(), latent["height"]!.GetValue<int>(),
            latent["length"]!.GetValue<int>(), fps);
        messages.Add(Message("execution_success", prompt.Id));
        await SendAsync(clientId, new JsonObject { ["type"] = "execution_success", ["data"] = new JsonObject { ["prompt_id"] = prompt.Id } });
        return Entry(prompt, "success", messages, new JsonObject
        {
            // Core's SaveVideo reports its file as an animated "image".
            [saveId] = new JsonObject
            {
                ["images"] = new JsonArray(new JsonObject { ["filename"] = filename, ["subfolder"] = subfolder, ["type"] = "output" }),
                ["animated"] = new JsonArray(true),
            },
        });
    }

    private static JsonArray Message(string type, string promptId) =>
        new(type, new JsonObject { ["prompt_id"] = promptId, ["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });

    private static JsonObject Entry(FakePrompt prompt, string status, JsonArray messages, JsonObject outputs) => new()
    {
        ["prompt"] = prompt.Item(),
        ["outputs"] = outputs,
        ["status"] = new JsonObject { ["status_str"] = status, ["completed"] = status == "success", ["messages"] = messages },
        ["meta"] = new JsonObject(),
    };

    private static async Task RenderAsync(string path, int width, int height, int frames, double fps)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
                 {
                     "-v", "error", "-y", "-f", "lavfi", "-i", $"testsrc=size={width}x{height}:rate={fps.ToString(CultureInfo.InvariantCulture)}",
                     "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path,
                 })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed: {errors}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _gpu;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stop.Dispose();
        Directory.Delete(_root, recursive: true);
    }
}

/// <summary>One queued prompt as the fake keeps it.</summary>
internal sealed class FakePrompt(string id, int number, JsonObject graph, JsonObject extraData)
{
    public string Id { get; } = id;
    public int Number { get; } = number;
    public JsonObject Graph { get; } = graph;
    public JsonObject ExtraData { get; } = extraData;
    public bool Interrupted { get; set; }

    /// <summary>The queue item: <c>[number, prompt_id, prompt, extra_data, outputs_to_execute]</c>.</summary>
    public JsonArray Item() => new(Number, Id, Graph.DeepClone(), ExtraData.DeepClone(),
        new JsonArray(Graph.Where(pair => pair.Value!["class_type"]!.GetValue<string>() == "SaveVideo").Select(pair => (JsonNode)pair.Key).ToArray()));
}
