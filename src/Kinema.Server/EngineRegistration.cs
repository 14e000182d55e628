using Kinema.Engines.Animatic;
using Kinema.Engines.Apimart;
using Kinema.Engines.ComfyUI;
using Kinema.Engines.Kling;

namespace Kinema.Server;

/// <summary>Every engine this server can run. Adding an engine is one line here.</summary>
internal static class EngineRegistration
{
    public static IServiceCollection AddKinemaEngines(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddAnimaticEngine();
        services.AddKlingEngine(configuration);
        services.AddApimartEngine(configuration);
        services.AddComfyUiEngine(configuration);
        return services;
    }
}
