using Kinema.Core.RateLimits;

namespace Kinema.Tests.RateLimits;

public sealed class RateWindowTests
{
    // 12:00:00 UTC: the start of a ten-second segment.
    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Grants_up_to_the_limit_then_nothing_until_the_oldest_segment_leaves()
    {
        var (segment, counts, first) = RateWindow.Take(0, RateWindow.Empty(), Noon.AddSeconds(3), limit: 10, want: 4);
        (segment, counts, var second) = RateWindow.Take(segment, counts, Noon.AddSeconds(15), 10, 4);
        (segment, counts, var third) = RateWindow.Take(segment, counts, Noon.AddSeconds(25), 10, 4);
        (segment, counts, var refused) = RateWindow.Take(segment, counts, Noon.AddSeconds(26), 10, 4);

        first.Granted.Should().Be(4);
        second.Granted.Should().Be(4);
        third.Granted.Should().Be(2, "only two of the ten are left in the minute");
        refused.Granted.Should().Be(0);
        // The first four were counted in 12:00:00-12:00:10, which leaves the window when 12:01:00 begins.
        refused.RetryAfter.Should().Be(TimeSpan.FromSeconds(34));
        counts.Sum().Should().Be(10);

        var (_, _, afterMinute) = RateWindow.Take(segment, counts, Noon.AddSeconds(60), 10, 9);
        afterMinute.Granted.Should().Be(4, "the first segment's four are back, the later six are still in the window");
    }

    [Fact]
    public void A_window_untouched_for_a_minute_is_empty_again()
    {
        var (segment, counts, _) = RateWindow.Take(0, RateWindow.Empty(), Noon, limit: 5, want: 5);

        var (_, later, grant) = RateWindow.Take(segment, counts, Noon.AddMinutes(7), 5, 5);

        grant.Granted.Should().Be(5);
        later.Should().Equal(0, 0, 0, 0, 0, 5);
    }

    [Fact]
    public void A_clock_behind_the_last_writer_counts_into_the_newest_segment()
    {
        var (segment, counts, _) = RateWindow.Take(0, RateWindow.Empty(), Noon.AddSeconds(45), limit: 5, want: 3);

        var (behind, shifted, grant) = RateWindow.Take(segment, counts, Noon.AddSeconds(31), 5, 3);

        grant.Granted.Should().Be(2);
        behind.Should().Be(segment, "a node whose clock is behind must not rewind the window");
        shifted.Should().Equal(0, 0, 0, 0, 0, 5);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 0)]
    public void Limit_and_want_are_at_least_one(int limit, int want)
    {
        var take = () => RateWindow.Take(0, RateWindow.Empty(), Noon, limit, want);

        take.Should().Throw<ArgumentOutOfRangeException>();
    }
}
