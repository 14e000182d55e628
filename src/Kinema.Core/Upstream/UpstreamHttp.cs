using System.Text.Json;
using Kinema.Core.Engines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Kinema.Core.Upstream;

/// <summary>What every upstream engine's HTTP needs: the client registration and turning transport faults into kinds.</summary>
public static class UpstreamHttp
{
    /// <summary>
    /// Registers a named client for an upstream, with retries for reads only (a POST that timed out may have created
    /// the task; the submitter looks it up before anything is sent again) and a per-attempt time limit.
    /// </summary>
    public static IHttpClientBuilder AddUpstreamHttpClient(
        this IServiceCollection services, string name, Action<IServiceProvider, HttpClient> configure, Func<IServiceProvider, TimeSpan> timeout)
    {
        var builder = services.AddHttpClient(name, (provider, client) =>
        {
            client.Timeout = Timeout.InfiniteTimeSpan;
            configure(provider, client);
        });
        builder.AddResilienceHandler(name, (pipeline, context) =>
        {
            pipeline.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = 2,
                Delay = TimeSpan.FromMilliseconds(200),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldRetryAfterHeader = true,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Context.GetRequestMessage()?.Method == HttpMethod.Get
                    && (args.Outcome.Exception is HttpRequestException or Polly.Timeout.TimeoutRejectedException
                        || (int?)args.Outcome.Result?.StatusCode is >= 500)),
            });
            pipeline.AddTimeout(timeout(context.ServiceProvider));
        });
        return builder;
    }

    /// <summary>Sends, mapping unreachable and timed-out calls to <see cref="UpstreamErrorKind.Transient"/>.</summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpRequestMessage request, string upstream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        try
        {
            return await client.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException exception)
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_unreachable", $"{upstream} could not be reached: {exception.Message}", null, exception);
        }
        catch (Exception exception) when (exception is Polly.Timeout.TimeoutRejectedException
                                          || (exception is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new UpstreamException(UpstreamErrorKind.Transient, "upstream_timeout", $"{upstream} did not answer in time", null, exception);
        }
    }

    /// <summary>The body as JSON, or null when it is not JSON (judged by its status then).</summary>
    public static JsonDocument? TryParse(string text)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
