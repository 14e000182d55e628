using Kinema.Core.Upstream;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.Engines.ComfyUI;

/// <summary>Registers the ComfyUI engine when its base URL is configured.</summary>
public static class ComfyUiServiceCollectionExtensions
{
    /// <summary>Adds the <c>comfyui</c> engine if <c>Kinema:Engines:ComfyUI:BaseUrl</c> is set.</summary>
    public static IServiceCollection AddComfyUiEngine(this IServiceCollection services, IConfiguration configuration)
    {
        var client = services.AddUpstreamEngine<ComfyUiEngine, ComfyUiOptions>(configuration, ComfyUiOptions.Section, ComfyUiEngine.HttpClientName,
            options => new Uri(options.BaseUrl!.TrimEnd('/') + "/"));
        if (client is null)
        {
            return services;
        }

        // The host is trusted because it is configured; where it redirects to is not.
        client.ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
        services.AddSingleton<ComfyUiProgress>();
        services.AddHostedService(provider => provider.GetRequiredService<ComfyUiProgress>());
        return services;
    }
}
