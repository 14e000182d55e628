using Kinema.Core.Engines;
using Kinema.Core.Upstream;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.ComfyUI;

/// <summary>Registers the ComfyUI engine when its base URL is configured.</summary>
public static class ComfyUiServiceCollectionExtensions
{
    /// <summary>Adds the <c>comfyui</c> engine if <c>Kinema:Engines:ComfyUI:BaseUrl</c> is set.</summary>
    public static IServiceCollection AddComfyUiEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ComfyUiOptions>().BindConfiguration(ComfyUiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(ComfyUiOptions.Section).Get<ComfyUiOptions>() ?? new ComfyUiOptions();
        if (!options.IsConfigured)
        {
            return services;
        }

        services.AddUpstreamHttpClient(
                ComfyUiEngine.HttpClientName,
                (provider, client) => client.BaseAddress = new Uri(provider.GetRequiredService<IOptions<ComfyUiOptions>>().Value.BaseUrl!.TrimEnd('/') + "/"),
                provider => provider.GetRequiredService<IOptions<ComfyUiOptions>>().Value.Timeout)
            // The host is trusted because it is configured; where it redirects to is not.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
        services.AddSingleton<ComfyUiProgress>();
        services.AddHostedService(provider => provider.GetRequiredService<ComfyUiProgress>());
        services.AddSingleton<IUpstreamEngine, ComfyUiEngine>();
        return services;
    }
}
