using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
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
        var id = document.RootElement.GetProperty("data")[0].GetProperty("task_id").GetString()
                 ?? throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", "the upstream returned no task id");
        return new UpstreamHandle(Name, Account, id);
    }

    /// <summary>The contract offers no lookup by our id; the Idempotency-Key on resubmission stands in for one.</summary>
    public Task<UpstreamHandle?> FindAsync(UpstreamJob job, CancellationToken cancellationToken) => Task.FromResult<UpstreamHandle?>(null);

    public async Task<UpstreamStatus> PollAsync(UpstreamHandle handle, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/tasks/{Uri.EscapeDataString(handle.UpstreamId)}");
        using var document = await SendAsync(request, cancellationToken);
        var data = document.RootElement.GetProperty("data");
        var status = data.GetProperty("status").GetString();
        var progress = data.TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : (int?)null;
        return status switch
        {
            "pending" or "submitted" => new UpstreamStatus { State = UpstreamState.Queued, Progress = progress },
            "processing" => new UpstreamStatus { State = UpstreamState.Running, Progress = progress },
            "completed" => new UpstreamStatus
            {
                State = UpstreamState.Succeeded,
                VideoUrls = data.GetProperty("result").GetProperty("videos").EnumerateArray()
                    .SelectMany(video => video.GetProperty("url").ValueKind == JsonValueKind.Array
                        ? video.GetProperty("url").EnumerateArray().Select(u => u.GetString()!)
                        : [video.GetProperty("url").GetString()!])
                    .Select(url => new Uri(url))
                    .ToList(),
                CoverUrl = data.GetProperty("result").GetProperty("videos")[0].TryGetProperty("thumbnail_url", out var cover) && cover.GetString() is { } c
                    ? new Uri(c) : null,
            },
            "failed" => new UpstreamStatus
            {
                State = UpstreamState.Failed,
                FailureCode = data.TryGetProperty("error", out var e) && e.TryGetProperty("code", out var code) ? code.ToString() : "upstream_failed",
                FailureMessage = "the upstream failed the task: " + (data.TryGetProperty("error", out var e2) && e2.TryGetProperty("message", out var m) ? m.GetString() : "no reason given"),
            },
            "cancelled" => new UpstreamStatus { State = UpstreamState.Cancelled },
            _ => throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_bad_answer", $"the upstream answered an unknown status '{status}'"),
        };
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
                          && error.TryGetProperty("message", out var m) ? m.GetString() : null;
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
