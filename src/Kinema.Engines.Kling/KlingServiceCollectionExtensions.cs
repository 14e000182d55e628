using Kinema.Core.Upstream;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.Engines.Kling;

/// <summary>Registers the official Kling API engine when its keys are configured.</summary>
public static class KlingServiceCollectionExtensions
{
    /// <summary>Adds the <c>kling</c> engine if <c>Kinema:Engines:Kling:AccessKey</c> and <c>SecretKey</c> are set.</summary>
    public static IServiceCollection AddKlingEngine(this IServiceCollection services, IConfiguration configuration)
    {
        // The engine builds absolute URLs itself (its base URL picks the region), so the client has no base address.
        services.AddUpstreamEngine<KlingEngine, KlingOptions>(configuration, KlingOptions.Section, KlingEngine.HttpClientName);
        return services;
    }
}
