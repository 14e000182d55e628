using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Kinema.Core.Diagnostics;
using Kinema.Core.RateLimits;
using Kinema.Core.Storage;
using Kinema.Core.Tenants;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Limits;

/// <summary><c>Kinema:RateLimits</c>.</summary>
internal sealed class RateLimitOptions
{
    public const string Section = "Kinema:RateLimits";

    /// <summary>
    /// Requests a key may make per minute unless it has its own limit (<c>keys create --rpm</c>). Generous: a client
    /// polling a dozen tasks every second stays under it; a runaway loop does not.
    /// </summary>
    [Range(1, 10_000_000)]
    public int RequestsPerMinute { get; set; } = 600;
}

/// <summary>
/// Per-key request rate limits: a sliding minute per API key (<see cref="RateWindow"/>), counted in the store every
/// node shares, so that behind a load balancer a key gets its limit once, not once per node. Requests without a
/// recognised key are not limited here: they get their 401 without touching the store more than the key cache does.
/// </summary>
internal static class KeyRateLimiting
{
    public static IServiceCollection AddKeyRateLimiting(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<KeyRateLimiters>();
        return services;
    }

    /// <summary>Recognises the key of every <c>/v1</c> request, then applies its limit.</summary>
    public static WebApplication UseKeyRateLimiting(this WebApplication app)
    {
        var limiters = app.Services.GetRequiredService<KeyRateLimiters>();
        var defaultLimit = app.Services.GetRequiredService<IOptions<RateLimitOptions>>().Value.RequestsPerMinute;
        app.UseWhen(http => http.Request.Path.StartsWithSegments("/v1"), branch => branch.Use(async (http, next) =>
        {
            await TenantContext.IdentifyAsync(http);
            if (TenantContext.Find(http) is { } caller)
            {
                var limit = caller.Key.RequestsPerMinute ?? defaultLimit;
                var decision = await limiters.AcquireAsync(caller.Key, limit, http.RequestAborted);
                if (!decision.Allowed)
                {
                    var seconds = Math.Max(1, (int)Math.Ceiling(decision.RetryAfter.TotalSeconds));
                    http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                    await ApiErrors.WriteAsync(http, StatusCodes.Status429TooManyRequests,
                        $"this API key is limited to {limit} requests per minute; retry after {seconds} s");
                    return;
                }
            }

            await next(http);
        }));
        return app;
    }
}

/// <summary>Whether a request may go on and, when not, how long until its key's window frees a permit.</summary>
internal readonly record struct RateDecision(bool Allowed, TimeSpan RetryAfter)
{
    public static readonly RateDecision Allow = new(true, TimeSpan.Zero);
}

/// <summary>
/// This node's side of every key's limit. A node does not ask the shared store for each request: it takes permits from
/// the key's window in blocks (about a 120th of the limit, at most 1,000) and spends them locally, and starts taking the
/// next block before the last runs out. A refusal is remembered until the window frees a permit, since nothing another
/// node does can free one sooner. The price of blocks is a little under-admission, never over: permits a node took and
/// did not spend in their segment are not given to another node.
/// </summary>
internal sealed partial class KeyRateLimiters(IRateLimitStore store, TimeProvider time, ILogger<KeyRateLimiters> logger)
{
    // While the shared store is out of reach, each node counts by itself (as before limits were shared) rather than
    // refusing every request, and asks the shared store again after this long.
    private static readonly TimeSpan RetrySharedAfter = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, KeyLimiter> _limiters = new(StringComparer.Ordinal);
    private readonly IRateLimitStore _store = store;
    private readonly InMemoryRateLimitStore _alone = new(time);
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;
    private readonly StoreOutageLog _outage = new(logger, "Rate limiting (each node counting by itself meanwhile)", time);
    private readonly Lock _outageGate = new();
    private long _sharedRetryAt; // Unix ms

    public ValueTask<RateDecision> AcquireAsync(ApiKeyRecord key, int limit, CancellationToken cancellationToken)
    {
        if (!_limiters.TryGetValue(key.Id, out var limiter))
        {
            limiter = _limiters.GetOrAdd(key.Id, id => new KeyLimiter(this, id));
        }

        return limiter.AcquireAsync(limit, cancellationToken);
    }

    private async Task<RateGrant> TakeAsync(string keyId, int limit, int want)
    {
        if (_time.GetUtcNow().ToUnixTimeMilliseconds() < Volatile.Read(ref _sharedRetryAt))
        {
            return await _alone.TakeAsync(keyId, limit, want, CancellationToken.None);
        }

        try
        {
            var grant = await _store.TakeAsync(keyId, limit, want, CancellationToken.None);
            lock (_outageGate)
            {
                _outage.Succeeded();
            }

            return grant;
        }
        catch (Exception exception) when (StoreFaults.IsUnreachable(exception))
        {
            lock (_outageGate)
            {
                _outage.Failed(exception);
            }

            Volatile.Write(ref _sharedRetryAt, (_time.GetUtcNow() + RetrySharedAfter).ToUnixTimeMilliseconds());
            return await _alone.TakeAsync(keyId, limit, want, CancellationToken.None);
        }
    }

    /// <summary>Permits a node takes from a key's window at once.</summary>
    internal static int BlockSize(int limit) => Math.Clamp(limit / 120, 1, 1000);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking rate-limit permits ahead of need failed; the next request will try again")]
    private static partial void LogPrefetchFailed(ILogger logger, Exception exception);

    private sealed class KeyLimiter(KeyRateLimiters owner, string keyId)
    {
        private readonly Lock _gate = new();
        private long _segment = long.MinValue; // the segment the permits below were taken in
        private int _permits;
        private long _refusedUntil; // Unix ms: the window is full until then, on every node
        private Task? _taking; // a take from the store in flight, which every request that needs it waits for

        public ValueTask<RateDecision> AcquireAsync(int limit, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                if (TryDecideLocked(limit, out var decision))
                {
                    return ValueTask.FromResult(decision);
                }
            }

            return TakeThenDecideAsync(limit, cancellationToken);
        }

        private async ValueTask<RateDecision> TakeThenDecideAsync(int limit, CancellationToken cancellationToken)
        {
            while (true)
            {
                Task taking;
                lock (_gate)
                {
                    if (TryDecideLocked(limit, out var decision))
                    {
                        return decision;
                    }

                    taking = _taking ??= TakeAsync(limit, prefetch: false);
                }

                await taking.WaitAsync(cancellationToken);
            }
        }

        private bool TryDecideLocked(int limit, out RateDecision decision)
        {
            var now = owner._time.GetUtcNow();
            if (RateWindow.SegmentAt(now) == _segment && _permits > 0)
            {
                _permits--;
                var block = BlockSize(limit);
                if (block >= 4 && _permits == block / 4 && _taking is null)
                {
                    _taking = TakeAsync(limit, prefetch: true);
                }

                decision = RateDecision.Allow;
                return true;
            }

            var wait = _refusedUntil - now.ToUnixTimeMilliseconds();
            if (wait > 0)
            {
                decision = new RateDecision(false, TimeSpan.FromMilliseconds(wait));
                return true;
            }

            decision = default;
            return false;
        }

        private async Task TakeAsync(int limit, bool prefetch)
        {
            // Off the caller's thread and out of its lock: the store may block (SQLite) or go over the network.
            await Task.Yield();
            var segment = RateWindow.SegmentAt(owner._time.GetUtcNow());
            try
            {
                // Not the request's token: the take serves every request waiting for it, and permits it brings are kept.
                var grant = await owner.TakeAsync(keyId, limit, BlockSize(limit));
                lock (_gate)
                {
                    var now = owner._time.GetUtcNow();
                    if (grant.Granted > 0)
                    {
                        // Permits are counted in the segment they were taken in; spent in a later one they could push a
                        // window past the limit, so a take that ends after its segment has ended is dropped.
                        if (RateWindow.SegmentAt(now) == segment)
                        {
                            _permits = _segment == segment ? _permits + grant.Granted : grant.Granted;
                            _segment = segment;
                        }
                    }
                    else
                    {
                        _refusedUntil = (now + grant.RetryAfter).ToUnixTimeMilliseconds();
                    }
                }
            }
            catch (Exception exception) when (prefetch && exception is not OutOfMemoryException)
            {
                LogPrefetchFailed(owner._logger, exception);
            }
            finally
            {
                lock (_gate)
                {
                    _taking = null;
                }
            }
        }
    }
}
