using Kinema.Core.Engines;
using Kinema.Core.Upstream;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

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

        services.AddUpstreamHttpClient(KlingEngine.HttpClientName, (_, _) => { },
            provider => provider.GetRequiredService<IOptions<KlingOptions>>().Value.Timeout);
        services.AddSingleton<IUpstreamEngine, KlingEngine>();
        return services;
    }
}
