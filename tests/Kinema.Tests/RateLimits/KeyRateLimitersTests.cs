using Kinema.Core.RateLimits;
using Kinema.Core.Storage.Postgres;
using Kinema.Core.Tenants;
using Kinema.Server.Limits;
using Kinema.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Kinema.Tests.RateLimits;

/// <summary>A node's limiters over the in-memory store (SQLite's), on a clock the test moves.</summary>
public sealed class KeyRateLimitersTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));

    private static ApiKeyRecord Key(string id) => new(id, "t1", id, "kin_x", DateTimeOffset.UnixEpoch, null);

    [Fact]
    public async Task No_window_of_six_segments_holds_more_than_the_limit_and_a_busy_one_holds_nearly_all()
    {
        const int limit = 1200; // blocks of 10
        var store = new CountingStore(new InMemoryRateLimitStore(_time));
        var limiters = new KeyRateLimiters(store, _time, NullLogger<KeyRateLimiters>.Instance);
        var random = new Random(7);
        var allowedBySegment = new Dictionary<long, int>();
        var refusals = 0;

        // Four minutes of a client far over its limit, the clock moving on by up to 50 ms a request.
        var end = _time.GetUtcNow().AddMinutes(4);
        while (_time.GetUtcNow() < end)
        {
            var decision = await limiters.AcquireAsync(Key("key_a"), limit, CancellationToken.None);
            if (decision.Allowed)
            {
                var segment = RateWindow.SegmentAt(_time.GetUtcNow());
                allowedBySegment[segment] = allowedBySegment.GetValueOrDefault(segment) + 1;
            }
            else
            {
                refusals++;
                decision.RetryAfter.Should().BePositive().And.BeLessThanOrEqualTo(RateWindow.Length);
            }

            _time.Advance(TimeSpan.FromMilliseconds(random.Next(0, 50)));
        }

        var first = allowedBySegment.Keys.Min();
        var windows = Enumerable.Range(0, 24 - RateWindow.Segments + 1)
            .Select(start => Enumerable.Range(start, RateWindow.Segments).Sum(offset => allowedBySegment.GetValueOrDefault(first + offset)))
            .ToList();
        windows.Should().OnlyContain(allowed => allowed <= limit);
        var block = KeyRateLimiters.BlockSize(limit);
        windows.Should().OnlyContain(allowed => allowed >= limit - RateWindow.Segments * (block + block / 4),
            "at most a block and the quarter left when the next was taken go unspent at each segment's end");
        refusals.Should().BeGreaterThan(0);
        store.Takes.Should().BeLessThan(allowedBySegment.Values.Sum() / 5, "permits are taken in blocks, and a refusal is remembered");
    }

    [Fact]
    public async Task A_refusal_is_answered_without_the_store_until_the_window_frees_a_permit()
    {
        var store = new CountingStore(new InMemoryRateLimitStore(_time));
        var limiters = new KeyRateLimiters(store, _time, NullLogger<KeyRateLimiters>.Instance);
        for (var i = 0; i < 3; i++)
        {
            (await limiters.AcquireAsync(Key("key_b"), 3, CancellationToken.None)).Allowed.Should().BeTrue();
        }

        var refused = await limiters.AcquireAsync(Key("key_b"), 3, CancellationToken.None);
        var takes = store.Takes;
        for (var i = 0; i < 50; i++)
        {
            (await limiters.AcquireAsync(Key("key_b"), 3, CancellationToken.None)).Allowed.Should().BeFalse();
        }

        refused.Allowed.Should().BeFalse();
        refused.RetryAfter.Should().Be(TimeSpan.FromSeconds(60));
        store.Takes.Should().Be(takes);
        (await limiters.AcquireAsync(Key("key_other"), 3, CancellationToken.None)).Allowed.Should().BeTrue("limits are per key");

        _time.Advance(TimeSpan.FromSeconds(60));
        (await limiters.AcquireAsync(Key("key_b"), 3, CancellationToken.None)).Allowed.Should().BeTrue();
    }

    [Fact]
    public async Task With_the_shared_store_out_of_reach_a_node_counts_by_itself_rather_than_refusing_everything()
    {
        await using var database = new PostgresDatabase($"Host=127.0.0.1;Port={LoopbackPorts.Free()};Username=nobody;Database=none;Timeout=2");
        var limiters = new KeyRateLimiters(new PostgresRateLimitStore(database, _time), _time, NullLogger<KeyRateLimiters>.Instance);

        var decisions = new List<RateDecision>();
        for (var i = 0; i < 4; i++)
        {
            decisions.Add(await limiters.AcquireAsync(Key("key_c"), 3, CancellationToken.None));
        }

        decisions.Take(3).Should().OnlyContain(decision => decision.Allowed);
        decisions[3].Allowed.Should().BeFalse("the limit still holds, counted on this node");
        decisions[3].RetryAfter.Should().BePositive();
    }

    /// <summary>The real in-memory store, counting how often it is asked.</summary>
    private sealed class CountingStore(IRateLimitStore inner) : IRateLimitStore
    {
        private int _takes;

        public int Takes => Volatile.Read(ref _takes);

        public Task<RateGrant> TakeAsync(string keyId, int limit, int want, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _takes);
            return inner.TakeAsync(keyId, limit, want, cancellationToken);
        }
    }
}
