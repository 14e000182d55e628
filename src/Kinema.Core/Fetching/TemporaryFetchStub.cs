using Microsoft.Extensions.DependencyInjection;
namespace Kinema.Core.Fetching;
/// <summary>TEMPORARY until the fetch branch lands.</summary>
public static class FetchingServiceCollectionExtensions
{
    /// <summary>stub</summary>
    public static IServiceCollection AddSafeFetching(this IServiceCollection services) => services.AddSingleton<IImageSource, StubSource>();
    private sealed class StubSource : IImageSource
    {
        public Task<FetchedImage> LoadAsync(string fieldPath, string url, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
