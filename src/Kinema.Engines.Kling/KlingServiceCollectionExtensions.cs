using Kinema.Core.Engines;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Kinema.Engines.Kling;

/// <summary>Registers the official Kling API engine when its keys are configured.</summary>
public static class KlingServiceCollectionExtensions
{
    /// <summary>Adds the <c>kling</c> engine if <c>Kinema:Engines:Kling:AccessKey</c> and <c>SecretKey</c> are set.</summary>
    public static IServiceCollection AddKlingEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<KlingOptions>().BindConfiguration(KlingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(KlingOptions.Section).Get<KlingOptions>() ?? new KlingOptions();
        if (!options.IsConfigured)
        {
            return services;
        }

        services.AddHttpClient(KlingEngine.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("kling", (pipeline, context) =>
            {
                var settings = context.ServiceProvider.GetRequiredService<IOptions<KlingOptions>>().Value;
                // Only reads are retried here: a POST that timed out may have created the task, and the submitter
                // looks it up by external_task_id before anything is sent again.
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
                pipeline.AddTimeout(settings.Timeout);
            });
        services.AddSingleton<IUpstreamEngine, KlingEngine>();
        return services;
    }
}
