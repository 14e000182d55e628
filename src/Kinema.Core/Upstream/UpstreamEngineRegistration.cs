using Kinema.Core.Engines;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Upstream;

/// <summary>What every upstream engine's options have: whether the engine is on, and the time limit of one call.</summary>
public interface IUpstreamEngineOptions
{
    /// <summary>True when the settings that turn the engine on are there (its keys, or its server's URL).</summary>
    bool IsConfigured { get; }

    /// <summary>Time limit of one upstream call.</summary>
    TimeSpan Timeout { get; }
}

/// <summary>The registration every upstream engine shares.</summary>
public static class UpstreamEngineRegistration
{
    /// <summary>
    /// Binds <typeparamref name="TOptions"/> from <paramref name="section"/> and validates it at start-up, whether or not
    /// the engine is on, so a half-filled section stops the start naming the key. When the engine is configured,
    /// registers its named HTTP client (<see cref="UpstreamHttp.AddUpstreamHttpClient"/>) and the engine itself, and
    /// returns the client's builder for engine-specific handlers; null when the engine is off.
    /// </summary>
    public static IHttpClientBuilder? AddUpstreamEngine<TEngine, TOptions>(
        this IServiceCollection services, IConfiguration configuration, string section, string httpClientName,
        Func<TOptions, Uri>? baseAddress = null)
        where TEngine : class, IUpstreamEngine
        where TOptions : class, IUpstreamEngineOptions, new()
    {
        services.AddOptions<TOptions>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(section).Get<TOptions>() ?? new TOptions();
        if (!options.IsConfigured)
        {
            return null;
        }

        var client = services.AddUpstreamHttpClient(
            httpClientName,
            (provider, http) =>
            {
                if (baseAddress is not null)
                {
                    http.BaseAddress = baseAddress(provider.GetRequiredService<IOptions<TOptions>>().Value);
                }
            },
            provider => provider.GetRequiredService<IOptions<TOptions>>().Value.Timeout);
        services.AddSingleton<IUpstreamEngine, TEngine>();
        return client;
    }
}
