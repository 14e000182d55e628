namespace Kinema.Core.RateLimits;

/// <summary>
/// Where every key's request window is counted. On SQLite, one process serves the file, so the window lives in its
/// memory; on PostgreSQL it is a row every node takes permits from, so a key's limit holds across the nodes behind a
/// load balancer rather than once per node.
/// </summary>
public interface IRateLimitStore
{
    /// <summary>
    /// Takes up to <paramref name="want"/> permits from the window of key <paramref name="keyId"/>, limited to
    /// <paramref name="limit"/> a minute. Atomic across every node that shares the store.
    /// </summary>
    Task<RateGrant> TakeAsync(string keyId, int limit, int want, CancellationToken cancellationToken);
}
