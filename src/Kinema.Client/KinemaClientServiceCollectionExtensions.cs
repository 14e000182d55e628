using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Kinema.Client;

/// <summary>Registers <see cref="KinemaClient"/> on <c>IHttpClientFactory</c>.</summary>
public static class KinemaClientServiceCollectionExtensions
{
    /// <summary>Adds a typed <see cref="KinemaClient"/> with the standard retry policy (see <see cref="KinemaResilience"/>).</summary>
    public static IHttpClientBuilder AddKinemaClient(this IServiceCollection services, Action<KinemaClientOptions> configure)
    {
        services.AddOptions<KinemaClientOptions>().Configure(configure)
            .Validate(options => !string.IsNullOrWhiteSpace(options.ApiKey), "KinemaClientOptions.ApiKey is required")
            .ValidateOnStart();
        var builder = services.AddHttpClient<KinemaClient>((provider, http) =>
            http.BaseAddress = provider.GetRequiredService<IOptions<KinemaClientOptions>>().Value.BaseAddress);
        builder.AddTypedClient((http, provider) => new KinemaClient(http, provider.GetRequiredService<IOptions<KinemaClientOptions>>().Value));
        builder.AddResilienceHandler("kinema", (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<KinemaClientOptions>>().Value;
            pipeline.AddRetry(KinemaResilience.RetryOptions(options));
            pipeline.AddTimeout(options.Timeout);
        });
        return builder;
    }
}
