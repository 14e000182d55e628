using Kinema.Core.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Kinema.Storage.S3;

/// <summary>Registers results in an S3-compatible object store.</summary>
public static class S3StorageServiceCollectionExtensions
{
    /// <summary>
    /// Replaces the node's disk <see cref="IResultStorage"/> with the bucket configured under <c>Kinema:Storage:S3</c>,
    /// validated at start.
    /// </summary>
    public static IServiceCollection AddS3ResultStorage(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<S3StorageOptions>().Bind(configuration.GetSection(S3StorageOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<S3StorageOptions>, S3StorageOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.Replace(ServiceDescriptor.Singleton<IResultStorage>(provider => new S3ResultStorage(
            provider.GetRequiredService<IOptions<S3StorageOptions>>().Value, provider.GetRequiredService<TimeProvider>())));
        return services;
    }
}
