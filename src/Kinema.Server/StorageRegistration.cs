using Kinema.Core.Storage;
using Kinema.Storage.S3;

namespace Kinema.Server;

/// <summary>Where results live (<c>Kinema:Storage:Provider</c>). The core registers the node's disk; others replace it here.</summary>
internal static class StorageRegistration
{
    public static IServiceCollection AddKinemaResultStorage(this IServiceCollection services, IConfiguration configuration)
    {
        var provider = configuration[ResultStorageOptions.Section + ":Provider"];
        if (string.Equals(provider, ResultStorageOptions.S3Provider, StringComparison.OrdinalIgnoreCase))
        {
            services.AddS3ResultStorage(configuration);
        }

        // Any other value is refused at start by ResultStorageOptions' validation.
        return services;
    }
}
