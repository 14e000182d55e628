using Kinema.Engines.Animatic;

namespace Kinema.Server;

/// <summary>Every engine this server can run. Adding an engine is one line here.</summary>
internal static class EngineRegistration
{
    public static IServiceCollection AddKinemaEngines(this IServiceCollection services)
    {
        services.AddAnimaticEngine();
        return services;
    }
}
