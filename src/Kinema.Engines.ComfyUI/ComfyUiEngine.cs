using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Kinema.Core.Upstream;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.ComfyUI;

/// <summary>
/// Open video models on the operator's own GPU through ComfyUI's HTTP API: the request fills a workflow's placeholders,
/// first and last frames are uploaded with <c>POST /upload/image</c>, the graph is queued with <c>POST /prompt</c>, and
/// <c>GET /history/{id}</c> and <c>GET /queue</c> tell its state. Every submission carries a prompt id derived from
/// Kinema's task id, and Kinema's task id in <c>extra_data</c>, so a task whose submission answer was lost is found in
/// the queue or the history rather than queued twice (ComfyUI releases that pick their own prompt ids included).
/// </summary>
internal sealed class ComfyUiEngine : IUpstreamEngine, IUpstreamResultHost
{
    public const string EngineName = "comfyui";
    public const string HttpClientName = "kinema-comfyui";
    private const string TaskIdKey = "kinema_task_id";
    private static readonly string[] VideoExtensions = [".mp4", ".webm", ".mov", ".mkv", ".m4v"];

    private readonly IHttpClientFactory _clients;
    private readonly ComfyUiOptions _options;
    private readonly Uri _baseUrl;
    private readonly ComfyUiWorkflow _textWorkflow;
    private readonly ComfyUiWorkflow? _imageWorkflow;
    private readonly ComfyUiProgress _progress;

    public ComfyUiEngine(IHttpClientFactory clients, IOptions<ComfyUiOptions> options, ComfyUiProgress progress)
    {
        _clients = clients;
        _progress = progress;
        _options = options.Value;
        _baseUrl = new Uri(_options.BaseUrl!.TrimEnd('/') + "/");
        _textWorkflow = ComfyUiWorkflow.Load(_options.TextWorkflow!, imageToVideo: false);
        _imageWorkflow = string.IsNullOrWhiteSpace(_options.ImageWorkflow) ? null : ComfyUiWorkflow.Load(_options.ImageWorkflow, imageToVideo: true);
        Account = _baseUrl.Authority;
    }

    public string Name => EngineName;

    public string Account { get; }

    /// <summary>
    /// ComfyUI keeps its queue and history in memory, so a restart (often a crash from running out of GPU memory) loses
    /// every prompt it had; it is the operator's own GPU, so sending a lost prompt again costs nothing but its time.
    /// </summary>
    public bool ResubmitsLostTasks => true;

    public IReadOnlyList<RuleViolation> Unsupported(GenerationRequest request)
    {
        var violations = new List<RuleViolation>();
        if (request.MultiShot)
        {
            violations.Add(new RuleViolation("multi_shot", "the comfyui engine renders one shot per task; multi-shot storyboards need the kling engine"));
        }

        if (request.Elements.Count > 0)
        {
            violations.Add(new RuleViolation("elements", "the comfyui engine's workflows take no @element subjects; they need the kling engine"));
        }

        if (request.Audio)
        {
            violations.Add(new RuleViolation("audio", "the comfyui engine's open video models make no audio track; send audio: false"));
        }

        if (request.Watermark)
        {
            violations.Add(new RuleViolation("watermark", "the comfyui engine adds no watermark; send watermark: false"));
        }

        var workflow = request.IsImageToVideo ? _imageWorkflow : _textWorkflow;
        if (request.IsImageToVideo && _imageWorkflow is null)
        {
            violations.Add(new RuleViolation("image_urls",
                $"this server's comfyui engine has no image-to-video workflow ({ComfyUiOptions.Section}:ImageWorkflow); send a text-only request"));
        }
        else if (request.ImageUrls.Count > 1 && !workflow!.Uses.Contains("last_frame"))
        {
            violations.Add(new RuleViolation("image_urls",
                "this server's image-to-video workflow takes a first frame only (it has no \"{{last_frame}}\" input); send one image"));
        }

        if (!string.IsNullOrEmpty(request.NegativePrompt) && workflow is not null && !workflow.Uses.Contains("negative_prompt"))
        {
            violations.Add(new RuleViolation("negative_prompt", "this server's comfyui workflow has no negative prompt input; leave negative_prompt out"));
        }

        return violations;
    }

    public async Task<UpstreamHandle> SubmitAsync(UpstreamJob job, CancellationToken cancellationToken)
    {
        var request = job.Request;
        var workflow = request.IsImageToVideo ? _imageWorkflow! : _textWorkflow;
        string? firstFrame = null;
        string? lastFrame = null;
        if (request.IsImageToVideo)
        {
            firstFrame = await UploadAsync(job, 0, "first", cancellationToken);
            if (request.ImageUrls.Count > 1)
            {
                lastFrame = await UploadAsync(job, 1, "last", cancellationToken);
            }
        }

        var (width, height) = OutputFormat.SizeFor(request.Mode, request.AspectRatio);
        var multiple = _options.SizeMultiple;
        var graph = workflow.Fill(ComfyUiWorkflow.Values(
            job.TaskId, request.Prompt ?? "", request.NegativePrompt, width / multiple * multiple, height / multiple * multiple, request.Duration, _options.FramesPerSecond,
            SeedFor(job.TaskId), firstFrame, lastFrame));
        var promptId = PromptIdFor(job.TaskId);
        var body = new JsonObject
        {
            ["prompt"] = graph,
            ["prompt_id"] = promptId,
            // ComfyUI sends a prompt's progress events to the WebSocket of this client id only.
            ["client_id"] = _progress.ClientId,
            ["extra_data"] = new JsonObject { [TaskIdKey] = job.TaskId },
        };
        using var message = new HttpRequestMessage(HttpMethod.Post, "prompt")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        using var document = await SendAsync(message, cancellationToken);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("prompt_id", out var id) || !JsonText.TryGetString(id, out var queued)
            || queued.Length == 0)
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "ComfyUI queued the prompt but answered no prompt_id");
        }

        _progress.Track(queued, job.TaskId);
        return new UpstreamHandle(Name, Account, queued);
    }

    public async Task<UpstreamHandle?> FindAsync(UpstreamJob job, CancellationToken cancellationToken)
    {
        var promptId = PromptIdFor(job.TaskId);
        using (var history = await GetAsync($"history/{Uri.EscapeDataString(promptId)}", cancellationToken))
        {
            if (history.RootElement.ValueKind == JsonValueKind.Object && history.RootElement.TryGetProperty(promptId, out _))
            {
                return new UpstreamHandle(Name, Account, promptId);
            }
        }

        // A ComfyUI that picks its own prompt ids still keeps extra_data with every queued and finished prompt.
        using var queue = await GetAsync("queue", cancellationToken);
        foreach (var item in QueueItems(queue.RootElement))
        {
            if (item.PromptId == promptId || item.TaskId == job.TaskId)
            {
                _progress.Track(item.PromptId, job.TaskId);
                return new UpstreamHandle(Name, Account, item.PromptId);
            }
        }

        using var all = await GetAsync("history?max_items=256", cancellationToken);
        if (all.RootElement.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in all.RootElement.EnumerateObject())
            {
                if (entry.Value.ValueKind == JsonValueKind.Object && entry.Value.TryGetProperty("prompt", out var prompt)
                    && QueueItem.From(prompt) is { } item && item.TaskId == job.TaskId)
                {
                    return new UpstreamHandle(Name, Account, entry.Name);
                }
            }
        }

        return null;
    }

    public async Task<UpstreamStatus> PollAsync(UpstreamHandle handle, CancellationToken cancellationToken)
    {
        using (var history = await GetAsync($"history/{Uri.EscapeDataString(handle.UpstreamId)}", cancellationToken))
        {
            if (history.RootElement.ValueKind == JsonValueKind.Object && history.RootElement.TryGetProperty(handle.UpstreamId, out var entry)
                && entry.ValueKind == JsonValueKind.Object)
            {
                return Finished(entry);
            }
        }

        using var queue = await GetAsync("queue", cancellationToken);
        var root = queue.RootElement;
        if (QueueItems(root, "queue_running").FirstOrDefault(item => item.PromptId == handle.UpstreamId) is { } running)
        {
            // After a restart this node no longer knows which task a prompt it hears of belongs to: the queue says.
            if (running.TaskId is { } taskId)
            {
                _progress.Track(running.PromptId, taskId);
            }

            return new UpstreamStatus { State = UpstreamState.Running, Progress = _progress.PercentOf(handle.UpstreamId) };
        }

        if (QueueItems(root, "queue_pending").Any(item => item.PromptId == handle.UpstreamId))
        {
            return new UpstreamStatus { State = UpstreamState.Queued };
        }

        // ComfyUI keeps its queue and history in memory: a restart forgets every prompt it had.
        throw new UpstreamException(UpstreamErrorKind.NotFound, "upstream_not_found",
            "ComfyUI no longer knows this prompt (it is in neither its queue nor its history; was it restarted?)");
    }

    public async Task<bool> CancelAsync(UpstreamHandle handle, CancellationToken cancellationToken)
    {
        using var queue = await GetAsync("queue", cancellationToken);
        if (QueueItems(queue.RootElement, "queue_pending").Any(item => item.PromptId == handle.UpstreamId))
        {
            await PostAsync("queue", new JsonObject { ["delete"] = new JsonArray(handle.UpstreamId) }, cancellationToken);
            return true;
        }

        if (QueueItems(queue.RootElement, "queue_running").Any(item => item.PromptId == handle.UpstreamId))
        {
            // Checked to be ours first: a ComfyUI too old to read prompt_id interrupts whatever is running.
            await PostAsync("interrupt", new JsonObject { ["prompt_id"] = handle.UpstreamId }, cancellationToken);
            return true;
        }

        return false;
    }

    public bool Hosts(Uri url) =>
        url.IsAbsoluteUri
        && string.Equals(url.Scheme, _baseUrl.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(url.IdnHost, _baseUrl.IdnHost, StringComparison.OrdinalIgnoreCase)
        && url.Port == _baseUrl.Port;

    public HttpClient CreateResultClient() => _clients.CreateClient(HttpClientName);

    /// <summary>A finished prompt: its video output, the node's error, or the interruption.</summary>
    private UpstreamStatus Finished(JsonElement entry)
    {
        var status = entry.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Object ? s : default;
        var statusText = status.ValueKind == JsonValueKind.Object && status.TryGetProperty("status_str", out var text) ? JsonText.StringOrEscaped(text) : null;
        var messages = status.ValueKind == JsonValueKind.Object && status.TryGetProperty("messages", out var m) && m.ValueKind == JsonValueKind.Array
            ? m.EnumerateArray().Where(message => message.ValueKind == JsonValueKind.Array && message.GetArrayLength() == 2).ToList()
            : [];
        if (messages.Any(message => JsonText.StringOrEscaped(message[0]) == "execution_interrupted"))
        {
            return new UpstreamStatus { State = UpstreamState.Cancelled, FailureMessage = "the prompt was interrupted on the ComfyUI server" };
        }

        if (statusText == "error")
        {
            var error = messages.FirstOrDefault(message => JsonText.StringOrEscaped(message[0]) == "execution_error");
            var detail = error.ValueKind == JsonValueKind.Array && error[1].ValueKind == JsonValueKind.Object ? error[1] : default;
            string? Field(string name) => detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty(name, out var value) ? JsonText.StringOrEscaped(value) : null;
            var node = Field("node_type") is { } type ? $" in node {Field("node_id") ?? "?"} ({type})" : "";
            return new UpstreamStatus
            {
                State = UpstreamState.Failed,
                FailureCode = "upstream_failed",
                FailureMessage = $"ComfyUI failed the workflow{node}: {Field("exception_message")?.Trim() ?? "no reason given"}",
            };
        }

        if (statusText is not null and not "success")
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", $"ComfyUI's history has an unknown status '{statusText}'");
        }

        var video = VideoOutputs(entry).FirstOrDefault()
                    ?? throw new UpstreamException(UpstreamErrorKind.RequestRefused, "upstream_no_result",
                        "the ComfyUI workflow finished without a video output (it needs a node that saves an .mp4 or .webm, such as SaveVideo)");
        return new UpstreamStatus { State = UpstreamState.Succeeded, Progress = 100, VideoUrls = [video] };
    }

    /// <summary>Every saved file of the outputs whose name is a video, as /view URLs on the configured host.</summary>
    private IEnumerable<Uri> VideoOutputs(JsonElement entry)
    {
        if (!entry.TryGetProperty("outputs", out var outputs) || outputs.ValueKind != JsonValueKind.Object)
        {
            yield break;
        }

        foreach (var node in outputs.EnumerateObject().Where(node => node.Value.ValueKind == JsonValueKind.Object))
        {
            // Core's SaveVideo lists its file under "images" (with "animated"), VideoHelperSuite under "gifs", others "videos".
            foreach (var list in node.Value.EnumerateObject().Where(list => list.Value.ValueKind == JsonValueKind.Array))
            {
                foreach (var file in list.Value.EnumerateArray().Where(file => file.ValueKind == JsonValueKind.Object))
                {
                    var name = file.TryGetProperty("filename", out var f) && JsonText.TryGetString(f, out var n) ? n : null;
                    if (name is null || !VideoExtensions.Contains(Path.GetExtension(name).ToLowerInvariant()))
                    {
                        continue;
                    }

                    var subfolder = file.TryGetProperty("subfolder", out var sf) && JsonText.TryGetString(sf, out var sub) ? sub : "";
                    var type = file.TryGetProperty("type", out var t) && JsonText.TryGetString(t, out var kind) && kind.Length > 0 ? kind : "output";
                    yield return new Uri(_baseUrl,
                        $"view?filename={Uri.EscapeDataString(name)}&subfolder={Uri.EscapeDataString(subfolder)}&type={Uri.EscapeDataString(type)}");
                }
            }
        }
    }

    /// <summary>Uploads one of the request's images into ComfyUI's input folder and answers the name a LoadImage node takes.</summary>
    private async Task<string> UploadAsync(UpstreamJob job, int index, string which, CancellationToken cancellationToken)
    {
        var image = await job.Images.LoadAsync($"image_urls[{index}]", job.Request.ImageUrls[index], cancellationToken);
        var extension = image.MediaType switch { "image/jpeg" => ".jpg", "image/webp" => ".webp", _ => ".png" };
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(image.Bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(image.MediaType);
        // A fixed name per task and frame, overwritten: a retried submission uploads onto the same file.
        form.Add(file, "image", $"kinema-{job.TaskId}-{which}{extension}");
        form.Add(new StringContent("input"), "type");
        form.Add(new StringContent("true"), "overwrite");
        using var message = new HttpRequestMessage(HttpMethod.Post, "upload/image") { Content = form };
        using var document = await SendAsync(message, cancellationToken);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out var name) || !JsonText.TryGetString(name, out var stored)
            || stored.Length == 0)
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "ComfyUI stored the image but answered no name");
        }

        var subfolder = root.TryGetProperty("subfolder", out var sf) && JsonText.TryGetString(sf, out var sub) ? sub : "";
        return subfolder.Length > 0 ? $"{subfolder}/{stored}" : stored;
    }

    private async Task<JsonDocument> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, path);
        return await SendAsync(message, cancellationToken);
    }

    private async Task PostAsync(string path, JsonObject body, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        using var response = await SendRawAsync(message, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw Failure(response, null);
        }
    }

    private async Task<JsonDocument> SendAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(message, cancellationToken);
        var document = UpstreamHttp.TryParse(await response.Content.ReadAsStringAsync(cancellationToken));
        if (response.IsSuccessStatusCode && document is not null)
        {
            return document;
        }

        using (document)
        {
            throw Failure(response, document);
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(_options.ApiKey))
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
        }

        return await UpstreamHttp.SendAsync(_clients.CreateClient(HttpClientName), message, "ComfyUI", cancellationToken);
    }

    /// <summary>
    /// ComfyUI's refusal: <c>{"error": {"type", "message"}, "node_errors": {id: {"class_type", "errors": [{"message", "details"}]}}}</c>
    /// (older releases answer <c>"error"</c> as a string), or a proxy's status.
    /// </summary>
    private static UpstreamException Failure(HttpResponseMessage response, JsonDocument? document)
    {
        var status = (int)response.StatusCode;
        var detail = new StringBuilder($"ComfyUI HTTP {status}");
        if (document?.RootElement is { ValueKind: JsonValueKind.Object } root)
        {
            if (root.TryGetProperty("error", out var error))
            {
                var message = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? JsonText.StringOrEscaped(m) : JsonText.StringOrEscaped(error);
                if (message is not null)
                {
                    detail.Append(": ").Append(message);
                }
            }

            if (root.TryGetProperty("node_errors", out var nodes) && nodes.ValueKind == JsonValueKind.Object)
            {
                foreach (var node in nodes.EnumerateObject().Take(3))
                {
                    var type = node.Value.ValueKind == JsonValueKind.Object && node.Value.TryGetProperty("class_type", out var c) ? JsonText.StringOrEscaped(c) : null;
                    var first = node.Value.ValueKind == JsonValueKind.Object && node.Value.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Array
                                && e.GetArrayLength() > 0 && e[0].ValueKind == JsonValueKind.Object
                        ? e[0]
                        : default;
                    var what = first.ValueKind == JsonValueKind.Object
                        ? string.Join(": ", new[] { "message", "details" }
                            .Select(name => first.TryGetProperty(name, out var v) ? JsonText.StringOrEscaped(v) : null)
                            .Where(text => !string.IsNullOrEmpty(text)))
                        : "invalid";
                    detail.Append($"; node {node.Name}{(type is null ? "" : $" ({type})")}: {what}");
                }
            }
        }

        var text = detail.ToString();
        var retryAfter = response.Headers.RetryAfter?.Delta;
        return status switch
        {
            401 or 403 => new UpstreamException(UpstreamErrorKind.AccountRefused, "upstream_auth", text),
            404 => new UpstreamException(UpstreamErrorKind.NotFound, "upstream_not_found", text),
            429 => new UpstreamException(UpstreamErrorKind.RateLimited, "rate_limited", text, retryAfter ?? TimeSpan.FromSeconds(1)),
            >= 400 and < 500 => new UpstreamException(UpstreamErrorKind.RequestRefused, "invalid_parameters", text),
            _ => new UpstreamException(UpstreamErrorKind.Transient, "upstream_error",
                response.IsSuccessStatusCode ? "ComfyUI's answer is not JSON" : text, retryAfter),
        };
    }

    /// <summary>The queue's items: <c>[number, prompt_id, prompt, extra_data, outputs_to_execute]</c>.</summary>
    private static IEnumerable<QueueItem> QueueItems(JsonElement root, params string[] lists)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            yield break;
        }

        foreach (var list in lists.Length > 0 ? lists : ["queue_running", "queue_pending"])
        {
            if (!root.TryGetProperty(list, out var items) || items.ValueKind != JsonValueKind.Array)
            {
                continue;
            }

            foreach (var element in items.EnumerateArray())
            {
                if (QueueItem.From(element) is { } item)
                {
                    yield return item;
                }
            }
        }
    }

    /// <summary>The prompt id a task is queued under: a UUID derived from Kinema's task id, the same on every retry.</summary>
    internal static string PromptIdFor(string taskId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("kinema-comfyui-prompt:" + taskId));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString("D");
    }

    /// <summary>The sampler seed: from the task id, so a resubmitted task renders the same video.</summary>
    internal static long SeedFor(string taskId) =>
        (long)(BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes("kinema-comfyui-seed:" + taskId))) >> 16);

    private sealed record QueueItem(string PromptId, string? TaskId)
    {
        public static QueueItem? From(JsonElement item)
        {
            if (item.ValueKind != JsonValueKind.Array || item.GetArrayLength() < 2 || !JsonText.TryGetString(item[1], out var promptId))
            {
                return null;
            }

            var taskId = item.GetArrayLength() > 3 && item[3].ValueKind == JsonValueKind.Object && item[3].TryGetProperty(TaskIdKey, out var id)
                         && JsonText.TryGetString(id, out var text)
                ? text
                : null;
            return new QueueItem(promptId, taskId);
        }
    }
}
