using Microsoft.Extensions.DependencyInjection;
namespace Kinema.Engines.Animatic;
/// <summary>TEMPORARY until the animatic branch lands.</summary>
public static class AnimaticServiceCollectionExtensions
{
    /// <summary>stub</summary>
    public static IServiceCollection AddAnimaticEngine(this IServiceCollection services) => services;
}
