using Kinema.Core.Engines;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Kinema.Engines.Apimart;

/// <summary>Registers the contract relay engine when its key is configured.</summary>
public static class ApimartServiceCollectionExtensions
{
    /// <summary>Adds the <c>apimart</c> engine if <c>Kinema:Engines:Apimart:ApiKey</c> is set.</summary>
    public static IServiceCollection AddApimartEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ApimartOptions>().BindConfiguration(ApimartOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(ApimartOptions.Section).Get<ApimartOptions>() ?? new ApimartOptions();
        if (!options.IsConfigured)
        {
            return services;
        }

        services.AddHttpClient(ApimartEngine.HttpClientName, (provider, client) =>
            {
                client.BaseAddress = new Uri(provider.GetRequiredService<IOptions<ApimartOptions>>().Value.BaseUrl!.TrimEnd('/') + "/");
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddResilienceHandler("apimart", (pipeline, context) =>
            {
                var settings = context.ServiceProvider.GetRequiredService<IOptions<ApimartOptions>>().Value;
                pipeline.AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = 2,
                    Delay = TimeSpan.FromMilliseconds(200),
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    // Reads only: submissions are never repeated blindly.
                    ShouldHandle = args => ValueTask.FromResult(
                        args.Context.GetRequestMessage()?.Method == HttpMethod.Get
                        && (args.Outcome.Exception is HttpRequestException or Polly.Timeout.TimeoutRejectedException
                            || (int?)args.Outcome.Result?.StatusCode is >= 500)),
                });
                pipeline.AddTimeout(settings.Timeout);
            });
        services.AddSingleton<IUpstreamEngine, ApimartEngine>();
        return services;
    }
}
