using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Kinema.Client;

/// <summary>
/// The client's retry policy: 408, 429, 5xx, timeouts and connection failures are retried with exponential backoff
/// and jitter, honouring <c>Retry-After</c>; a create is retried only when it carries an <c>Idempotency-Key</c>,
/// because without one a retry after a lost answer would make a second task (and a second bill).
/// </summary>
public static class KinemaResilience
{
    /// <summary>The retry options for the given client options.</summary>
    public static HttpRetryStrategyOptions RetryOptions(KinemaClientOptions options) => new()
    {
        MaxRetryAttempts = Math.Max(0, options.MaxRetries),
        Delay = options.RetryBaseDelay,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        ShouldRetryAfterHeader = true,
        ShouldHandle = arguments => ValueTask.FromResult(ShouldRetry(arguments.Outcome, arguments.Context.GetRequestMessage())),
    };

    internal static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, HttpRequestMessage? request)
    {
        if (request is null || !IsSafeToRepeat(request))
        {
            return false;
        }

        if (outcome.Exception is not null)
        {
            return outcome.Exception is HttpRequestException or TimeoutRejectedException;
        }

        return outcome.Result?.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
            or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable
            or HttpStatusCode.GatewayTimeout;
    }

    private static bool IsSafeToRepeat(HttpRequestMessage request) =>
        request.Method == HttpMethod.Get
        || request.Method == HttpMethod.Head
        || request.Headers.Contains("Idempotency-Key")
        || request.RequestUri?.OriginalString.EndsWith("/cancel", StringComparison.Ordinal) == true
        // A repeated upload stores a second copy and nothing else: no task, no charge.
        || request.RequestUri?.OriginalString.EndsWith("uploads/images", StringComparison.Ordinal) == true;

    /// <summary>A standalone handler chain: retries around a per-attempt timeout around the connection pool.</summary>
    public static HttpMessageHandler CreateHandler(KinemaClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(RetryOptions(options))
            .AddTimeout(options.Timeout)
            .Build();
#pragma warning disable CA2000 // The resilience handler owns and disposes its inner handler.
        return new ResilienceHandler(pipeline)
        {
            InnerHandler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
        };
#pragma warning restore CA2000
    }
}
