using System.Globalization;
using Kinema.Contracts.Requests;
using Microsoft.Extensions.Configuration;

namespace Kinema.Core.Billing;

/// <summary>One model's rates, in whole credits per second of video.</summary>
/// <param name="PerSecond">The rate of each mode (<c>std</c>, <c>pro</c>, <c>4k</c>) that has a price.</param>
/// <param name="AudioPerSecond">Added to the rate when the request asks for audio.</param>
public sealed record ModelPrice(IReadOnlyDictionary<string, long> PerSecond, long AudioPerSecond);

/// <summary>The price of a request, or why it has none.</summary>
/// <param name="Cost">Credits, when priced.</param>
/// <param name="Param">The field that has no price (<c>model</c> or <c>mode</c>), when not.</param>
/// <param name="Message">Why, when not.</param>
public sealed record PriceQuote(long? Cost, string? Param = null, string? Message = null);

/// <summary>
/// <c>Kinema:Billing:Prices:{model}:{mode}</c> and <c>…:{model}:Audio</c>: credits per second of video. The price
/// follows the model the client asked for, whichever engine serves it, so a failover never changes what a task costs.
/// Credits are whole numbers (never floating point): a ledger of integers sums exactly.
/// </summary>
public sealed class PriceList
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Billing:Prices";

    private const string AudioKey = "audio";

    /// <summary>
    /// The shipped prices: one credit is one second of 720p video; 1080p costs twice that, 4K four times, and an audio
    /// track one more credit a second. Configuration overrides any of them and adds models.
    /// </summary>
    public static IReadOnlyDictionary<string, ModelPrice> Defaults { get; } = new Dictionary<string, ModelPrice>(StringComparer.Ordinal)
    {
        [ModelNames.KlingV3] = new(new Dictionary<string, long>(StringComparer.Ordinal)
        {
            [GenerationModes.Standard] = 1,
            [GenerationModes.Professional] = 2,
            [GenerationModes.UltraHd] = 4,
        }, AudioPerSecond: 1),
    };

    private readonly Dictionary<string, ModelPrice> _models;

    /// <summary>A price list of exactly these models.</summary>
    public PriceList(IReadOnlyDictionary<string, ModelPrice> models) =>
        _models = new Dictionary<string, ModelPrice>(models, StringComparer.Ordinal);

    /// <summary>Every priced model.</summary>
    public IReadOnlyDictionary<string, ModelPrice> Models => _models;

    /// <summary>
    /// The defaults overlaid with <c>Kinema:Billing:Prices</c>. A value that is not a whole number of credits
    /// (0 or more) stops start-up with a message naming its key.
    /// </summary>
    public static PriceList FromConfiguration(IConfiguration configuration)
    {
        var models = Defaults.ToDictionary(
            entry => entry.Key,
            entry => (Rates: new Dictionary<string, long>(entry.Value.PerSecond, StringComparer.Ordinal), Audio: entry.Value.AudioPerSecond),
            StringComparer.Ordinal);
        foreach (var model in configuration.GetSection(Section).GetChildren())
        {
            if (!models.TryGetValue(model.Key, out var price))
            {
                price = (new Dictionary<string, long>(StringComparer.Ordinal), 0);
            }

            foreach (var entry in model.GetChildren())
            {
                var key = $"{Section}:{model.Key}:{entry.Key}";
                if (!long.TryParse(entry.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var credits))
                {
                    throw new InvalidOperationException(
                        $"{key} must be a whole number of credits per second (0 or more), not '{entry.Value}'.");
                }

                var name = entry.Key.ToLowerInvariant();
                if (name == AudioKey)
                {
                    price.Audio = credits;
                }
                else if (GenerationModes.All.Contains(name))
                {
                    price.Rates[name] = credits;
                }
                else
                {
                    throw new InvalidOperationException(
                        $"{key} names no mode: use {string.Join(", ", GenerationModes.All)} or Audio.");
                }
            }

            models[model.Key] = price;
        }

        return new PriceList(models.ToDictionary(m => m.Key, m => new ModelPrice(m.Value.Rates, m.Value.Audio), StringComparer.Ordinal));
    }

    /// <summary>The seconds a request is billed for: its duration (a storyboard's shots add up to it, as the rules check).</summary>
    public static int BilledSeconds(GenerationRequest request) =>
        request.MultiPrompt.Count > 0 ? request.MultiPrompt.Sum(shot => shot.Duration) : request.Duration;

    /// <summary>What a request costs: seconds × (the mode's rate + the audio rate when audio is asked for).</summary>
    public PriceQuote Quote(GenerationRequest request)
    {
        if (!_models.TryGetValue(request.Model, out var price))
        {
            return new PriceQuote(null, "model", $"model '{request.Model}' has no price on this server (Kinema:Billing:Prices:{request.Model})");
        }

        if (!price.PerSecond.TryGetValue(request.Mode, out var rate))
        {
            return new PriceQuote(null, "mode", $"mode '{request.Mode}' of model '{request.Model}' has no price on this server");
        }

        var perSecond = checked(rate + (request.Audio ? price.AudioPerSecond : 0));
        return new PriceQuote(checked(perSecond * BilledSeconds(request)));
    }
}
