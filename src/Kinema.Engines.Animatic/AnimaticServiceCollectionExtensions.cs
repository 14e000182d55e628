using Kinema.Core.Engines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Kinema.Engines.Animatic;

/// <summary>Registers the built-in preview engine.</summary>
public static class AnimaticServiceCollectionExtensions
{
    /// <summary>Adds the <c>animatic</c> engine, its options (<c>Kinema:Animatic</c>) and a start-up check for ffmpeg.</summary>
    public static IServiceCollection AddAnimaticEngine(this IServiceCollection services)
    {
        services.AddOptions<AnimaticOptions>().BindConfiguration(AnimaticOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IVideoEngine, AnimaticEngine>();
        services.AddSingleton<IHostedService, FfmpegCheck>();
        return services;
    }
}
