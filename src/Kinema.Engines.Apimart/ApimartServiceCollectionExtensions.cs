using Kinema.Core.Upstream;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.Engines.Apimart;

/// <summary>Registers the contract relay engine when its key is configured.</summary>
public static class ApimartServiceCollectionExtensions
{
    /// <summary>Adds the <c>apimart</c> engine if <c>Kinema:Engines:Apimart:ApiKey</c> is set.</summary>
    public static IServiceCollection AddApimartEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddUpstreamEngine<ApimartEngine, ApimartOptions>(configuration, ApimartOptions.Section, ApimartEngine.HttpClientName,
            options => new Uri(options.BaseUrl!.TrimEnd('/') + "/"));
        return services;
    }
}
