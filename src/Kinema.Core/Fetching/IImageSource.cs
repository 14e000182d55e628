namespace Kinema.Core.Fetching;

/// <summary>Loads the images a request names: http(s) URLs fetched safely, or data URIs decoded.</summary>
public interface IImageSource
{
    /// <summary>Loads one image.</summary>
    /// <param name="fieldPath">Where the URL came from, e.g. <c>image_urls[1]</c>; failures name it.</param>
    /// <param name="url">An <c>https://</c>, <c>http://</c> or <c>data:image/…;base64,</c> URL.</param>
    /// <param name="cancellationToken">Stops the fetch.</param>
    /// <exception cref="Engines.EngineFailureException">Code <c>image_fetch_failed</c>, message naming the field.</exception>
    Task<FetchedImage> LoadAsync(string fieldPath, string url, CancellationToken cancellationToken);
}

/// <summary>An image's encoded bytes and what was learnt checking them.</summary>
/// <param name="Bytes">The encoded image (JPEG, PNG or WebP).</param>
/// <param name="MediaType">E.g. <c>image/png</c>.</param>
/// <param name="Width">Pixel width.</param>
/// <param name="Height">Pixel height.</param>
public sealed record FetchedImage(byte[] Bytes, string MediaType, int Width, int Height);
