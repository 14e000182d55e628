using Kinema.Core.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Kinema.Core.Fetching;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Webhooks;

/// <summary>
/// Announces finished tasks and delivers the outbox, the Standard Webhooks way: <c>webhook-id</c> (stable across
/// retries), <c>webhook-timestamp</c>, <c>webhook-signature</c>. 2xx is success; a redirect is a failure and is never
/// followed; 410 disables the endpoint; anything else is retried on the schedule, honouring <c>Retry-After</c>.
/// Targets pass the same address checks as images. A delivery never touches the task it is about.
/// </summary>
internal sealed partial class WebhookDispatcher(
    IWebhookStore store,
    IWebhookPayloadFactory payloads,
    TaskChangeFeed feed,
    IHttpClientFactory clients,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    Diagnostics.KinemaMetrics metrics,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    public const string HttpClientName = "kinema-webhooks";
    // A claimed delivery is attempted at once and lasts at most its timeout; the margin covers recording the outcome. A
    // claim longer than that would only delay the next attempt after its node died mid-delivery.
    private static readonly TimeSpan ClaimMargin = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(500);
    private readonly SemaphoreSlim _wake = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        feed.Finished += OnTaskFinished;
        var settings = options.Value;
        using var slots = new SemaphoreSlim(settings.MaxConcurrentDeliveries);
        var running = new List<Task>();
        var outage = new StoreOutageLog(logger, "The webhook dispatcher", time);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await store.EnqueueFinishedTasksAsync(200, payloads.TaskJson, stoppingToken);
                    var due = await store.ClaimDueAsync(Math.Max(1, slots.CurrentCount), settings.Timeout + ClaimMargin, stoppingToken);
                    outage.Succeeded();
                    foreach (var delivery in due)
                    {
                        await slots.WaitAsync(stoppingToken);
                        running.Add(DeliverAsync(delivery, slots, stoppingToken));
                    }

                    running.RemoveAll(t => t.IsCompleted);
                    if (due.Count == 0)
                    {
                        await _wake.WaitAsync(Idle, stoppingToken);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    outage.Failed(exception);
                    await Task.Delay(Idle, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
        finally
        {
            feed.Finished -= OnTaskFinished;
            await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private void OnTaskFinished(string taskId)
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task DeliverAsync(WebhookDelivery delivery, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        try
        {
            var attempt = await AttemptAsync(delivery, stoppingToken);
            await store.RecordAttemptAsync(delivery.Id, attempt, CancellationToken.None);
            metrics.WebhookAttempted(attempt.Outcome);
            LogAttempt(logger, delivery.Id, delivery.EventType, attempt.Outcome, attempt.HttpStatus ?? 0, attempt.Error ?? "");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The claim runs out and the delivery is attempted again after a restart.
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            metrics.WebhookAttempted("error");
            LogDeliveryFault(logger, delivery.Id, exception);
        }
        finally
        {
            slots.Release();
        }
    }

    internal async Task<WebhookAttempt> AttemptAsync(WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url)
        {
            Content = new StringContent(delivery.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("webhook-id", delivery.Id);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", WebhookSignature.Sign(delivery.Secret!, delivery.Id, timestamp, delivery.Payload));
        request.Headers.UserAgent.ParseAdd("Kinema-Webhooks/1.0");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Timeout);
        int? status = null;
        string? error;
        TimeSpan? retryAfter = null;
        try
        {
            using var response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return new WebhookAttempt("delivered", status, null, null);
            }

            if (response.StatusCode == HttpStatusCode.Gone)
            {
                return new WebhookAttempt(delivery.EndpointId is null ? "failed" : "disabled", status, "410 Gone: not retried", null, delivery.EndpointId);
            }

            retryAfter = response.Headers.RetryAfter?.Delta
                         ?? (response.Headers.RetryAfter?.Date is { } date ? date - time.GetUtcNow() : null);
            error = (int)response.StatusCode is >= 300 and < 400
                ? $"HTTP {status}: redirects are not followed"
                : $"HTTP {status}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            error = $"no answer within {settings.Timeout.TotalSeconds:0} s";
        }
        catch (HttpRequestException exception) when (BlockedAddressException.FindIn(exception) is { } blocked)
        {
            // The receiver's name resolves to a private address: permanent, so failed now rather than retried for a day.
            return new WebhookAttempt("failed", null, blocked.Message + "; not retried", null);
        }
        catch (HttpRequestException exception)
        {
            error = exception.Message;
        }

        var schedule = settings.Schedule;
        if (delivery.Attempts >= schedule.Count)
        {
            return new WebhookAttempt("failed", status, error + $"; given up after {delivery.Attempts + 1} attempts", null);
        }

        var wait = Jitter(schedule[delivery.Attempts]);
        if (retryAfter is { } asked && asked > wait)
        {
            wait = asked;
        }

        return new WebhookAttempt("retry", status, error, time.GetUtcNow() + wait);
    }

    private static TimeSpan Jitter(TimeSpan delay) =>
        TimeSpan.FromTicks((long)(delay.Ticks * (0.8 + (0.4 * Random.Shared.NextDouble()))));

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Webhook {DeliveryId} ({EventType}): {Outcome} (HTTP {Status}) {Reason}")]
    private static partial void LogAttempt(ILogger logger, string deliveryId, string eventType, string outcome, int status, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {DeliveryId} failed unexpectedly")]
    private static partial void LogDeliveryFault(ILogger logger, string deliveryId, Exception exception);

}
