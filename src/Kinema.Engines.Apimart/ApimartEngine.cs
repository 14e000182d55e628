using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Kinema.Core.Upstream;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.Apimart;

/// <summary>
/// A relay to any service speaking our own contract (the aggregator this contract comes from, or another Kinema):
/// <c>POST /v1/videos/generations</c>, <c>GET /v1/tasks/{id}</c>. The contract has no external id to look a task up by,
/// so every submission carries Kinema's task id as its <c>Idempotency-Key</c>: a resubmission after a crash returns the
/// first task from any upstream that honours the key (Kinema does).
/// </summary>
internal sealed class ApimartEngine(IHttpClientFactory clients, IOptions<ApimartOptions> options) : IUpstreamEngine
{
    public const string EngineName = "apimart";
    public const string HttpClientName = "kinema-apimart";
    private readonly ApimartOptions _options = options.Value;

    public string Name => EngineName;

    public string Account { get; } = "key-" + options.Value.ApiKey![..Math.Min(6, options.Value.ApiKey!.Length)];

    public IReadOnlyList<RuleViolation> Unsupported(GenerationRequest request) => [];

    public async Task<UpstreamHandle> SubmitAsync(UpstreamJob job, CancellationToken cancellationToken)
    {
        // Kinema-only fields stay home: the callback belongs to our client, not to the upstream.
        var body = GenerationRequestRules.ToJson(job.Request with { CallbackUrl = null });
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/videos/generations")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", job.TaskId);
        using var document = await SendAsync(request, cancellationToken);
        var data = document.RootElement.GetProperty("data");
        var id = data.ValueKind == JsonValueKind.Array && data.GetArrayLength() > 0 && data[0].ValueKind == JsonValueKind.Object
                 && data[0].TryGetProperty("task_id", out var taskId) && JsonText.TryGetString(taskId, out var text) && text.Length > 0
            ? text
            : throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "the upstream returned no task id");
        return new UpstreamHandle(Name, Account, id);
    }

    /// <summary>The contract offers no lookup by our id; the Idempotency-Key on resubmission stands in for one.</summary>
    public Task<UpstreamHandle?> FindAsync(UpstreamJob job, CancellationToken cancellationToken) => Task.FromResult<UpstreamHandle?>(null);

    public async Task<UpstreamStatus> PollAsync(UpstreamHandle handle, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/tasks/{Uri.EscapeDataString(handle.UpstreamId)}");
        using var document = await SendAsync(request, cancellationToken);
        var data = document.RootElement.GetProperty("data");
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "the upstream's task answer is not an object");
        }

        // Strings are read with JsonText: a lone surrogate or a wrong type in the answer is a bad answer, never an
        // exception that escapes the poller.
        var status = data.TryGetProperty("status", out var s) ? JsonText.StringOrEscaped(s) : null;
        var progress = data.TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var percent)
            ? percent
            : (int?)null;
        return status switch
        {
            "pending" or "submitted" => new UpstreamStatus { State = UpstreamState.Queued, Progress = progress },
            "processing" => new UpstreamStatus { State = UpstreamState.Running, Progress = progress },
            "completed" => Completed(data),
            "failed" => new UpstreamStatus
            {
                State = UpstreamState.Failed,
                FailureCode = data.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object && e.TryGetProperty("code", out var code)
                    ? JsonText.StringOrEscaped(code) ?? code.GetRawText()
                    : "upstream_failed",
                FailureMessage = "the upstream failed the task: " + (data.TryGetProperty("error", out var e2) && e2.ValueKind == JsonValueKind.Object
                                                                     && e2.TryGetProperty("message", out var m)
                    ? JsonText.StringOrEscaped(m) ?? "no reason given"
                    : "no reason given"),
            },
            "cancelled" => new UpstreamStatus { State = UpstreamState.Cancelled },
            _ => throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", $"the upstream answered an unknown status '{status}'"),
        };
    }

    /// <summary>result.videos[].url (a string or an array of them) and the first thumbnail; no readable URL is a bad answer.</summary>
    private static UpstreamStatus Completed(JsonElement data)
    {
        var urls = new List<Uri>();
        Uri? cover = null;
        if (data.TryGetProperty("result", out var result) && result.ValueKind == JsonValueKind.Object
            && result.TryGetProperty("videos", out var videos) && videos.ValueKind == JsonValueKind.Array)
        {
            foreach (var video in videos.EnumerateArray())
            {
                if (video.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                if (video.TryGetProperty("url", out var url))
                {
                    var candidates = url.ValueKind == JsonValueKind.Array ? url.EnumerateArray().ToList() : [url];
                    foreach (var candidate in candidates)
                    {
                        if (JsonText.TryGetString(candidate, out var text) && Uri.TryCreate(text, UriKind.Absolute, out var uri))
                        {
                            urls.Add(uri);
                        }
                    }
                }

                if (cover is null && video.TryGetProperty("thumbnail_url", out var thumbnail)
                    && JsonText.TryGetString(thumbnail, out var thumbText) && Uri.TryCreate(thumbText, UriKind.Absolute, out var thumbUri))
                {
                    cover = thumbUri;
                }
            }
        }

        return urls.Count > 0
            ? new UpstreamStatus { State = UpstreamState.Succeeded, VideoUrls = urls, CoverUrl = cover }
            : throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "the upstream reported success without a readable video URL");
    }

    public async Task<bool> CancelAsync(UpstreamHandle handle, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"v1/tasks/{Uri.EscapeDataString(handle.UpstreamId)}/cancel");
        try
        {
            using var document = await SendAsync(request, cancellationToken);
            return true;
        }
        catch (UpstreamException failure) when (failure.Kind is UpstreamErrorKind.NotFound or UpstreamErrorKind.RequestRefused)
        {
            return false;
        }
    }

    private async Task<JsonDocument> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
        using var response = await UpstreamHttp.SendAsync(clients.CreateClient(HttpClientName), request, "the upstream", cancellationToken);
        {
            var document = UpstreamHttp.TryParse(await response.Content.ReadAsStringAsync(cancellationToken));

            if (response.IsSuccessStatusCode && document?.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("data", out _))
            {
                return document;
            }

            var message = document?.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error)
                          && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? JsonText.StringOrEscaped(m) : null;
            document?.Dispose();
            var detail = $"upstream HTTP {(int)response.StatusCode}{(message is null ? "" : ": " + message)}";
            var retryAfter = response.Headers.RetryAfter?.Delta;
            throw (int)response.StatusCode switch
            {
                401 or 402 or 403 => new UpstreamException(UpstreamErrorKind.AccountRefused, "upstream_auth", detail),
                404 => new UpstreamException(UpstreamErrorKind.NotFound, "upstream_not_found", detail),
                429 => new UpstreamException(UpstreamErrorKind.RateLimited, "rate_limited", detail, retryAfter ?? TimeSpan.FromSeconds(1)),
                >= 400 and < 500 => new UpstreamException(UpstreamErrorKind.RequestRefused, "invalid_parameters", detail),
                _ => new UpstreamException(UpstreamErrorKind.Transient, "upstream_error", response.IsSuccessStatusCode ? "the upstream's answer is not the contract's JSON" : detail, retryAfter),
            };
        }
    }
}
