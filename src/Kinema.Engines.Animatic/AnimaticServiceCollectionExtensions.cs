using Kinema.Core.Diagnostics;
using Kinema.Core.Engines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Kinema.Engines.Animatic;

/// <summary>Registers the built-in preview engine.</summary>
public static class AnimaticServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <c>animatic</c> engine, its options (<c>Kinema:Animatic</c>), a start-up check for ffmpeg and the
    /// <c>ffmpeg</c> readiness check.
    /// </summary>
    public static IServiceCollection AddAnimaticEngine(this IServiceCollection services)
    {
        services.AddOptions<AnimaticOptions>().BindConfiguration(AnimaticOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IVideoEngine, AnimaticEngine>();
        services.AddSingleton<FfmpegAvailability>();
        services.AddSingleton<IHostedService, FfmpegCheck>();
        services.AddHealthChecks().AddCheck<FfmpegHealthCheck>(FfmpegHealthCheck.Name, tags: [HealthTags.Ready]);
        return services;
    }
}
