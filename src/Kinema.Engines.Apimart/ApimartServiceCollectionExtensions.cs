using Kinema.Core.Engines;
using Kinema.Core.Upstream;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

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

        services.AddUpstreamHttpClient(
            ApimartEngine.HttpClientName,
            (provider, client) => client.BaseAddress = new Uri(provider.GetRequiredService<IOptions<ApimartOptions>>().Value.BaseUrl!.TrimEnd('/') + "/"),
            provider => provider.GetRequiredService<IOptions<ApimartOptions>>().Value.Timeout);
        services.AddSingleton<IUpstreamEngine, ApimartEngine>();
        return services;
    }
}
