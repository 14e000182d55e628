using System.Collections.Concurrent;
using Kinema.Core.Tenants;

namespace Kinema.Server.Auth;

/// <summary>
/// Recognises bearer keys. Valid keys are cached for a few seconds so a status poll costs a hash and a
/// dictionary lookup, not a database read; the short lifetime bounds how long a revoked key keeps working.
/// </summary>
internal sealed class ApiKeyAuthenticator(IApiKeyStore keys, TimeProvider time)
{
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (ApiKeyRecord Key, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    public async ValueTask<ApiKeyRecord?> AuthenticateAsync(string? authorization, CancellationToken cancellationToken)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var presented = authorization[scheme.Length..].Trim();
        if (presented.Length is 0 or > 256)
        {
            return null;
        }

        var now = time.GetUtcNow();
        if (_cache.TryGetValue(presented, out var cached) && cached.Until > now)
        {
            return cached.Key;
        }

        var key = await keys.FindValidAsync(presented, cancellationToken);
        if (key is null)
        {
            _cache.TryRemove(presented, out _);
            return null;
        }

        if (_cache.Count > 10_000)
        {
            _cache.Clear();
        }

        _cache[presented] = (key, now + CacheLifetime);
        return key;
    }
}
