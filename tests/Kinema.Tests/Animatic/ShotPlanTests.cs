using Kinema.Contracts.Requests;
using Kinema.Engines.Animatic;

namespace Kinema.Tests.Animatic;

public sealed class ShotPlanTests
{
    [Theory]
    [InlineData("One. Two. Three.", 9, 3)]
    [InlineData("A single sentence without a stop", 5, 1)]
    [InlineData("A. B. C. D. E. F. G. H.", 15, 6)]
    [InlineData("Short. A much much longer second sentence that goes on and on.", 10, 2)]
    [InlineData("A. B. C. D.", 3, 3)]
    [InlineData("Why? Because! Fine.", 4, 3)]
    public void Intelligence_split_gives_whole_seconds_of_at_least_one_summing_to_the_total(string prompt, int total, int expectedShots)
    {
        var shots = ShotPlan.SplitIntoShots(prompt, total);

        shots.Should().HaveCount(expectedShots);
        shots.Sum(s => s.Duration).Should().Be(total);
        shots.Should().AllSatisfy(s => s.Duration.Should().BeGreaterThanOrEqualTo(1));
        string.Join(' ', shots.Select(s => s.Prompt)).Replace(" ", "", StringComparison.Ordinal)
            .Should().Be(prompt.Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public void Longer_sentences_get_more_time()
    {
        var shots = ShotPlan.SplitIntoShots("Short. A much much longer second sentence that goes on and on and on.", 10);

        shots[1].Duration.Should().BeGreaterThan(shots[0].Duration);
    }

    [Fact]
    public void Customize_shots_cut_at_seconds_times_24()
    {
        var request = new GenerationRequest
        {
            Model = ModelNames.KlingV3,
            MultiShot = true,
            ShotType = ShotTypes.Customize,
            Duration = 15,
            MultiPrompt = [new Shot(1, "a", 5), new Shot(2, "b", 3), new Shot(3, "c", 7)],
        };

        var segments = ShotPlan.For(request, 24);

        segments.Select(s => s.StartFrame).Should().Equal(0, 120, 192);
        segments[^1].EndFrame.Should().Be(360);
        segments.Should().AllSatisfy(s => s.Count.Should().Be(3));
    }
}
