namespace Kinema.Core.Fetching;

/// <summary>
/// Reads images the server holds itself (uploads) straight from its storage, so that an upload URL is never fetched
/// over HTTP — the server's own address is usually one the fetch guard refuses.
/// </summary>
public interface IOwnImageReader
{
    /// <summary>
    /// The stored bytes when <paramref name="url"/> is an authentic URL of the server's own storage, capped at
    /// <paramref name="maxBytes"/>; null when it is not one of the server's URLs (the caller fetches it as usual).
    /// </summary>
    /// <exception cref="Engines.EngineFailureException">The URL is the server's own but the file is gone or too large.</exception>
    Task<byte[]?> TryReadAsync(string fieldPath, string url, long maxBytes, CancellationToken cancellationToken);
}
