using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Kinema.Core.Upstream;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.Kling;

/// <summary>
/// The real Kling v3 model through Kuaishou's official API: JWT auth, text2video / image2video, our task id as
/// <c>external_task_id</c> (so a submission can be found after a crash), statuses submitted → processing → succeed |
/// failed, and the documented error codes mapped onto retry, back-off, failover or failure.
/// </summary>
internal sealed class KlingEngine : IUpstreamEngine
{
    public const string EngineName = "kling";
    public const string HttpClientName = "kinema-kling";
    private readonly IHttpClientFactory _clients;
    private readonly KlingOptions _options;
    private readonly KlingToken _token;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _elementIds = new(StringComparer.Ordinal);
    private static readonly TimeSpan ElementWait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ElementPoll = TimeSpan.FromMilliseconds(500);

    public KlingEngine(IHttpClientFactory clients, IOptions<KlingOptions> options, TimeProvider time)
    {
        _clients = clients;
        _options = options.Value;
        _token = new KlingToken(_options.AccessKey!, _options.SecretKey!, time);
        // The account label names the key without revealing it: tasks record it so follow-ups use the same account.
        var accessKey = _options.AccessKey!;
        Account = "ak-" + accessKey[..Math.Min(6, accessKey.Length)];
    }

    public string Name => EngineName;

    public string Account { get; }

    public IReadOnlyList<RuleViolation> Unsupported(GenerationRequest request) => KlingRequestMapper.Unsupported(request);

    public async Task<UpstreamHandle> SubmitAsync(UpstreamJob job, CancellationToken cancellationToken)
    {
        var elementIds = new List<long>();
        for (var i = 0; i < job.Request.Elements.Count; i++)
        {
            elementIds.Add(await ElementIdAsync(job.Request.Elements[i], $"{job.TaskId}-e{i}", cancellationToken));
        }

        var (endpoint, body) = KlingRequestMapper.Map(job.Request, _options.ModelName, job.TaskId, job.CallbackUrl, elementIds);
        using var document = await SendAsync(HttpMethod.Post, $"v1/videos/{endpoint}", body, cancellationToken);
        var data = document.RootElement.GetProperty("data");
        var upstreamId = data.GetProperty("task_id").ToString();
        return new UpstreamHandle(Name, Account, $"{endpoint}:{upstreamId}");
    }

    public async Task<UpstreamHandle?> FindAsync(UpstreamJob job, CancellationToken cancellationToken)
    {
        var endpoint = job.Request.IsImageToVideo ? KlingRequestMapper.ImageToVideo : KlingRequestMapper.TextToVideo;
        try
        {
            // The query path takes the task_id or the external_task_id; ours is Kinema's task id.
            using var document = await SendAsync(HttpMethod.Get, $"v1/videos/{endpoint}/{Uri.EscapeDataString(job.TaskId)}", null, cancellationToken);
            var upstreamId = document.RootElement.GetProperty("data").GetProperty("task_id").ToString();
            return new UpstreamHandle(Name, Account, $"{endpoint}:{upstreamId}");
        }
        catch (UpstreamException failure) when (failure.Kind == UpstreamErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task<UpstreamStatus> PollAsync(UpstreamHandle handle, CancellationToken cancellationToken)
    {
        var (endpoint, id) = Split(handle);
        using var document = await SendAsync(HttpMethod.Get, $"v1/videos/{endpoint}/{Uri.EscapeDataString(id)}", null, cancellationToken);
        var data = document.RootElement.GetProperty("data");
        // Strings are read with JsonText: an answer holding a lone surrogate or a number where a string belongs is a bad
        // answer (transient, within the poll error budget), never an exception that escapes the poller.
        var status = data.TryGetProperty("task_status", out var s) ? JsonText.StringOrEscaped(s) : null;
        switch (status)
        {
            case "submitted":
                return new UpstreamStatus { State = UpstreamState.Queued };
            case "processing":
                return new UpstreamStatus { State = UpstreamState.Running };
            case "succeed":
                return new UpstreamStatus { State = UpstreamState.Succeeded, VideoUrls = VideoUrls(data) };
            case "failed":
                var reason = data.TryGetProperty("task_status_msg", out var message) ? JsonText.StringOrEscaped(message) : null;
                return new UpstreamStatus
                {
                    State = UpstreamState.Failed,
                    FailureCode = IsPolicy(reason) ? "content_policy" : "upstream_failed",
                    FailureMessage = $"Kling failed the task: {reason ?? "no reason given"}",
                };
            default:
                throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", $"Kling answered an unknown task_status '{status}'");
        }
    }

    /// <summary>
    /// Our on-the-fly elements exist in Kling's element library before a task can name them: each is created once
    /// (POST /v1/general/advanced-custom-elements, an asynchronous job polled until it yields an element_id) and the id
    /// is remembered by the element's content, so the same subject in later tasks costs no new creation. Creating an
    /// element makes no video and is not billed, so a repeat after a crash costs nothing but time.
    /// </summary>
    private async Task<long> ElementIdAsync(Element element, string externalTaskId, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join('\n', [element.Name, element.Description, .. element.ElementInputUrls]))));
        if (_elementIds.TryGetValue(key, out var known))
        {
            return known;
        }

        string jobId;
        using (var created = await SendAsync(HttpMethod.Post, "v1/general/advanced-custom-elements",
                   KlingRequestMapper.ElementBody(element, externalTaskId), cancellationToken))
        {
            jobId = created.RootElement.GetProperty("data").GetProperty("task_id").ToString();
        }

        var deadline = DateTime.UtcNow + ElementWait;
        while (true)
        {
            using (var status = await SendAsync(HttpMethod.Get, $"v1/general/advanced-custom-elements/{Uri.EscapeDataString(jobId)}", null, cancellationToken))
            {
                var data = status.RootElement.GetProperty("data");
                var state = data.TryGetProperty("task_status", out var s) ? JsonText.StringOrEscaped(s) : null;
                if (state == "failed")
                {
                    var reason = data.TryGetProperty("task_status_msg", out var m) ? JsonText.StringOrEscaped(m) : null;
                    throw new UpstreamException(UpstreamErrorKind.RequestRefused, "element_refused",
                        $"Kling refused the element '{element.Name}': {reason ?? "no reason given"}");
                }

                if (state == "succeed" && FindElementId(data) is { } id)
                {
                    _elementIds[key] = id;
                    return id;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_timeout",
                    $"Kling did not finish creating the element '{element.Name}' within {ElementWait.TotalSeconds:0} s");
            }

            await Task.Delay(ElementPoll, cancellationToken);
        }
    }

    /// <summary>task_result.videos[].url as absolute URIs; anything else in a success is a bad answer.</summary>
    private static List<Uri> VideoUrls(JsonElement data)
    {
        var urls = new List<Uri>();
        if (data.TryGetProperty("task_result", out var result) && result.ValueKind == JsonValueKind.Object
            && result.TryGetProperty("videos", out var videos) && videos.ValueKind == JsonValueKind.Array)
        {
            foreach (var video in videos.EnumerateArray())
            {
                if (video.ValueKind == JsonValueKind.Object && video.TryGetProperty("url", out var url)
                    && JsonText.TryGetString(url, out var text) && Uri.TryCreate(text, UriKind.Absolute, out var uri))
                {
                    urls.Add(uri);
                }
            }
        }

        return urls.Count > 0
            ? urls
            : throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "Kling reported success without a readable video URL");
    }

    /// <summary>The element_id wherever the query's data holds it (task_result.elements[0] in the published examples).</summary>
    private static long? FindElementId(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                long number = 0;
                foreach (var property in element.EnumerateObject())
                {
                    if (property.NameEquals("element_id") && property.Value.ValueKind switch
                        {
                            JsonValueKind.Number => property.Value.TryGetInt64(out number),
                            JsonValueKind.String => long.TryParse(JsonText.StringOrEscaped(property.Value), System.Globalization.CultureInfo.InvariantCulture, out number),
                            _ => false,
                        })
                    {
                        return number;
                    }

                    if (FindElementId(property.Value) is { } nested)
                    {
                        return nested;
                    }
                }

                return null;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (FindElementId(item) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    /// <summary>The legacy API documents no cancel: the task runs (and is billed) to its end upstream.</summary>
    public Task<bool> CancelAsync(UpstreamHandle handle, CancellationToken cancellationToken) => Task.FromResult(false);

    private async Task<JsonDocument> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(method, new Uri(new Uri(_options.BaseUrl.TrimEnd('/') + "/"), path));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token.Get());
            if (body is not null)
            {
                request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            }

            using var response = await UpstreamHttp.SendAsync(_clients.CreateClient(HttpClientName), request, "Kling", cancellationToken);
            {
                // Garbage bodies parse to null and are judged by the HTTP status below.
                var document = UpstreamHttp.TryParse(await response.Content.ReadAsStringAsync(cancellationToken));

                var code = document is not null && document.RootElement.ValueKind == JsonValueKind.Object
                           && document.RootElement.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number
                    ? c.GetInt32()
                    : (int?)null;
                if (response.IsSuccessStatusCode && code == 0 && document!.RootElement.TryGetProperty("data", out var data)
                    && data.ValueKind == JsonValueKind.Object)
                {
                    return document;
                }

                var message = document?.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("message", out var m)
                    ? JsonText.StringOrEscaped(m)
                    : null;
                document?.Dispose();
                var failure = MapError(response.StatusCode, code, message, RetryAfter(response));
                if (failure is null && attempt == 0)
                {
                    // 1003/1004: the token is not yet valid or expired (clock skew): renew and try once more.
                    _token.Invalidate();
                    continue;
                }

                throw failure ?? new UpstreamException(UpstreamErrorKind.AccountRefused, "upstream_auth", "Kling refused the token twice (check the keys and the clock)");
            }
        }
    }

    /// <summary>The documented error codes; null means "renew the token and retry once".</summary>
    internal static UpstreamException? MapError(HttpStatusCode status, int? code, string? message, TimeSpan? retryAfter)
    {
        var detail = $"Kling: {(code is { } c ? $"code {c}" : $"HTTP {(int)status}")}{(message is { Length: > 0 } ? ": " + message : "")}";
        return code switch
        {
            1003 or 1004 => null,
            >= 1000 and <= 1002 => new UpstreamException(UpstreamErrorKind.AccountRefused, "upstream_auth", detail),
            1100 or 1101 or 1102 => new UpstreamException(UpstreamErrorKind.AccountRefused, "insufficient_balance", detail),
            1103 => new UpstreamException(UpstreamErrorKind.AccountRefused, "upstream_forbidden", detail),
            1200 or 1201 => new UpstreamException(UpstreamErrorKind.RequestRefused, "invalid_parameters", detail),
            1202 or 1203 => new UpstreamException(UpstreamErrorKind.NotFound, "upstream_not_found", detail),
            1300 or 1301 => new UpstreamException(UpstreamErrorKind.RequestRefused, "content_policy", $"refused by Kling's content policy: {message}"),
            1302 or 1303 => new UpstreamException(UpstreamErrorKind.RateLimited, "rate_limited", detail,
                retryAfter is { } wait && wait > TimeSpan.FromSeconds(1) ? wait : TimeSpan.FromSeconds(1)),
            1304 => new UpstreamException(UpstreamErrorKind.AccountRefused, "ip_not_allowed", detail),
            >= 5000 and <= 5002 => new UpstreamException(UpstreamErrorKind.Transient, "upstream_error", detail, retryAfter),
            _ => (int)status switch
            {
                401 or 403 => new UpstreamException(UpstreamErrorKind.AccountRefused, "upstream_auth", detail),
                404 => new UpstreamException(UpstreamErrorKind.NotFound, "upstream_not_found", detail),
                429 => new UpstreamException(UpstreamErrorKind.RateLimited, "rate_limited", detail, retryAfter ?? TimeSpan.FromSeconds(1)),
                >= 400 and < 500 => new UpstreamException(UpstreamErrorKind.RequestRefused, "invalid_parameters", detail),
                _ => new UpstreamException(UpstreamErrorKind.Transient, "upstream_error", detail + " (not the documented answer)", retryAfter),
            },
        };
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow,
            _ => null,
        };

    private static bool IsPolicy(string? reason) =>
        reason is not null && (reason.Contains("risk", StringComparison.OrdinalIgnoreCase) || reason.Contains("policy", StringComparison.OrdinalIgnoreCase)
                               || reason.Contains("safety", StringComparison.OrdinalIgnoreCase));

    private static (string Endpoint, string Id) Split(UpstreamHandle handle)
    {
        var colon = handle.UpstreamId.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 ? (handle.UpstreamId[..colon], handle.UpstreamId[(colon + 1)..]) : (KlingRequestMapper.TextToVideo, handle.UpstreamId);
    }
}
