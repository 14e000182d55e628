using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Fetching;

/// <summary>Registers safe fetching of user-given URLs.</summary>
public static class FetchingServiceCollectionExtensions
{
    /// <summary>Adds <see cref="FetchOptions"/>, the guarded <c>kinema-fetch</c> HttpClient and <see cref="IImageSource"/>.</summary>
    public static IServiceCollection AddSafeFetching(this IServiceCollection services)
    {
        services.AddOptions<FetchOptions>().BindConfiguration(FetchOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddHttpClient(SafeImageFetcher.ClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(provider =>
                GuardedHttpHandler.Create(provider.GetRequiredService<IOptions<FetchOptions>>().Value));
        services.AddSingleton<IImageSource, SafeImageFetcher>();
        return services;
    }
}
