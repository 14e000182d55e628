using System.Text.RegularExpressions;
using Kinema.Contracts.Requests;

namespace Kinema.Engines.Animatic;

/// <summary>One segment of the preview: a shot with its frames.</summary>
/// <param name="Number">1-based shot number.</param>
/// <param name="Count">How many shots the video has.</param>
/// <param name="Prompt">The caption.</param>
/// <param name="StartFrame">The first frame of the shot.</param>
/// <param name="FrameCount">How many frames it lasts.</param>
internal sealed record ShotSegment(int Number, int Count, string Prompt, int StartFrame, int FrameCount)
{
    public int EndFrame => StartFrame + FrameCount;
}

/// <summary>Turns a request into its shots, with hard cuts exactly at the shot boundaries (frame = seconds × 24).</summary>
internal static partial class ShotPlan
{
    public const int MaxShots = 6;

    public static IReadOnlyList<ShotSegment> For(GenerationRequest request, int framesPerSecond)
    {
        var shots = request switch
        {
            { MultiShot: true, MultiPrompt.Count: > 0 } => request.MultiPrompt.Select(s => (s.Prompt, s.Duration)).ToList(),
            { MultiShot: true, ShotType: ShotTypes.Intelligence } => SplitIntoShots(request.Prompt ?? "", request.Duration),
            _ => [(request.Prompt ?? "", request.Duration)],
        };
        var segments = new List<ShotSegment>(shots.Count);
        var start = 0;
        for (var i = 0; i < shots.Count; i++)
        {
            var frames = shots[i].Duration * framesPerSecond;
            segments.Add(new ShotSegment(i + 1, shots.Count, shots[i].Prompt, start, frames));
            start += frames;
        }

        return segments;
    }

    /// <summary>
    /// The <c>intelligence</c> split: one shot per sentence (at most 6, extra sentences joined to the last), whole-second
    /// durations of at least 1 that add up to the total, shared out in proportion to each sentence's length.
    /// </summary>
    public static List<(string Prompt, int Duration)> SplitIntoShots(string prompt, int totalSeconds)
    {
        var sentences = Sentence().Matches(prompt).Select(m => m.Value.Trim()).Where(s => s.Length > 0).ToList();
        if (sentences.Count == 0)
        {
            sentences.Add(prompt.Trim());
        }

        var count = Math.Min(Math.Min(sentences.Count, MaxShots), Math.Max(1, totalSeconds));
        if (sentences.Count > count)
        {
            sentences[count - 1] = string.Join(' ', sentences.Skip(count - 1));
            sentences.RemoveRange(count, sentences.Count - count);
        }

        var weights = sentences.Select(s => Math.Max(1, s.Length)).ToList();
        var totalWeight = weights.Sum();
        var durations = weights.Select(w => Math.Max(1, (int)Math.Floor((double)w / totalWeight * totalSeconds))).ToList();
        // Hand out (or take back) the rounding remainder one second at a time, longest sentences first.
        var order = Enumerable.Range(0, count).OrderByDescending(i => weights[i]).ToList();
        var k = 0;
        while (durations.Sum() < totalSeconds)
        {
            durations[order[k++ % count]]++;
        }

        while (durations.Sum() > totalSeconds)
        {
            var longest = order.First(i => durations[i] > 1);
            durations[longest]--;
        }

        return sentences.Select((s, i) => (s, durations[i])).ToList();
    }

    [GeneratedRegex(@"[^.!?。！？]+[.!?。！？]*")]
    private static partial Regex Sentence();
}
