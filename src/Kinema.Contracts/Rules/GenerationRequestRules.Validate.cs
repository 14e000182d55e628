using System.Text.RegularExpressions;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;

namespace Kinema.Contracts.Rules;

public static partial class GenerationRequestRules
{
    /// <summary>The longest element name.</summary>
    public const int MaxElementNameLength = 64;

    /// <summary>The longest element description.</summary>
    public const int MaxElementDescriptionLength = 500;

    /// <summary>What an element name may contain, so that a prompt can mention it as <c>@name</c>.</summary>
    public const string ElementNamePattern = "^[A-Za-z0-9_-]+$";

    /// <summary>
    /// Every rule of the contract on a typed request (spec sections 1 and 4), each broken rule reported with its field
    /// path. The server runs it on every create; the SDK runs it before sending, so a mistake costs no round trip.
    /// </summary>
    public static IReadOnlyList<RuleViolation> Validate(GenerationRequest request, GenerationRuleOptions options)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        var violations = new List<RuleViolation>();
        void Add(string param, string message) => violations.Add(new RuleViolation(param, message));

        // A parsed body cannot hold a lone surrogate (Parse refuses it), but an SDK caller's .NET string can, and the
        // JSON writer would throw sending it: refused here, before any round trip.
        foreach (var (param, text) in TextFields(request))
        {
            if (text is not null && !JsonText.IsWellFormed(text))
            {
                Add(param, JsonText.UnpairedSurrogateMessage(param));
            }
        }

        if (!GenerationRequestSchema.Model.Allows(request.Model))
        {
            Add("model", $"model must be '{GenerationRequestSchema.Model.ValueList}', not '{Truncate(request.Model)}'");
        }

        var promptRequired = !request.MultiShot
                             || (request.ShotType == ShotTypes.Intelligence && request.MultiPrompt.Count == 0);
        if (request.Prompt is null)
        {
            if (promptRequired)
            {
                Add("prompt", request.MultiShot
                    ? "prompt is required with shot_type 'intelligence' when no multi_prompt is given"
                    : "prompt is required (it may be omitted only in multi-shot mode)");
            }
        }
        else if (string.IsNullOrWhiteSpace(request.Prompt) && promptRequired)
        {
            Add("prompt", "prompt must not be empty");
        }
        else if (CharacterCount(request.Prompt) is var promptLength && promptLength > GenerationRequestSchema.Prompt.MaxLength)
        {
            Add("prompt", $"prompt must be at most {GenerationRequestSchema.Prompt.MaxLength} characters (it has {promptLength})");
        }

        if (request.NegativePrompt is { } negative && CharacterCount(negative) is var negativeLength
            && negativeLength > GenerationRequestSchema.NegativePrompt.MaxLength)
        {
            Add("negative_prompt", $"negative_prompt must be at most {GenerationRequestSchema.NegativePrompt.MaxLength} characters (it has {negativeLength})");
        }

        if (!GenerationRequestSchema.Mode.Allows(request.Mode))
        {
            Add("mode", $"mode must be one of {GenerationRequestSchema.Mode.ValueList}, not '{Truncate(request.Mode)}'");
        }

        var durationRule = GenerationRequestSchema.Duration;
        var durationValid = durationRule.InRange(request.Duration);
        if (!durationValid)
        {
            Add("duration", $"duration must be from {durationRule.Minimum} to {durationRule.Maximum} seconds, not {request.Duration}");
        }

        if (!GenerationRequestSchema.AspectRatio.Allows(request.AspectRatio))
        {
            Add("aspect_ratio", $"aspect_ratio must be one of {GenerationRequestSchema.AspectRatio.ValueList}, not '{Truncate(request.AspectRatio)}'");
        }

        ValidateImages(request, options, Add);
        ValidateShots(request, durationValid, Add);
        ValidateElements(request, options, Add);

        if (request.CallbackUrl is { } callback && AddressPolicy.CheckCallbackUrl("callback_url", callback, options.AllowPrivateNetworks) is { } bad)
        {
            violations.Add(bad);
        }

        return violations;
    }

    private static void ValidateImages(GenerationRequest request, GenerationRuleOptions options, Action<string, string> add)
    {
        var maxImages = GenerationRequestSchema.ImageUrls.MaxItems;
        if (request.ImageUrls.Count > maxImages)
        {
            add("image_urls", $"image_urls must have at most {maxImages} images (first frame, last frame), not {request.ImageUrls.Count}");
            return;
        }

        for (var i = 0; i < request.ImageUrls.Count; i++)
        {
            CheckImage($"image_urls[{i}]", request.ImageUrls[i], options, add);
        }
    }

    private static void ValidateShots(GenerationRequest request, bool durationValid, Action<string, string> add)
    {
        if (!request.MultiShot)
        {
            return;
        }

        if (request.ShotType is null)
        {
            add("shot_type", "shot_type is required when multi_shot is true: 'customize' or 'intelligence'");
            return;
        }

        if (!GenerationRequestSchema.ShotType.Allows(request.ShotType))
        {
            add("shot_type", $"shot_type must be 'customize' or 'intelligence', not '{Truncate(request.ShotType)}'");
            return;
        }

        var shots = request.MultiPrompt;
        if (shots.Count == 0)
        {
            if (request.ShotType == ShotTypes.Customize)
            {
                add("multi_prompt", "multi_prompt is required with shot_type 'customize': 1 to 6 shots");
            }

            return;
        }

        if (shots.Count > GenerationRequestSchema.MultiPrompt.MaxItems)
        {
            add("multi_prompt", $"multi_prompt must have {GenerationRequestSchema.MultiPrompt.MinItems} to {GenerationRequestSchema.MultiPrompt.MaxItems} shots, not {shots.Count}");
            return;
        }

        for (var i = 0; i < shots.Count; i++)
        {
            var shot = shots[i];
            var path = $"multi_prompt[{i}]";
            if (shot.Index != i + 1)
            {
                add(path + ".index", $"{path}.index must be {i + 1}: shot indexes start at 1 and are continuous, in order");
            }

            if (string.IsNullOrWhiteSpace(shot.Prompt))
            {
                add(path + ".prompt", $"{path}.prompt must not be empty");
            }
            else if (CharacterCount(shot.Prompt) is var shotLength && shotLength > GenerationRequestSchema.ShotPrompt.MaxLength)
            {
                add(path + ".prompt", $"{path}.prompt must be at most {GenerationRequestSchema.ShotPrompt.MaxLength} characters (it has {shotLength})");
            }

            if (shot.Duration < GenerationRequestSchema.ShotDuration.Minimum)
            {
                add(path + ".duration", $"{path}.duration must be at least {GenerationRequestSchema.ShotDuration.Minimum}");
            }
            else if (durationValid && shot.Duration > request.Duration)
            {
                add(path + ".duration", $"{path}.duration must not exceed the task's duration ({request.Duration})");
            }
        }

        var sum = shots.Sum(shot => (long)shot.Duration);
        if (durationValid && sum != request.Duration)
        {
            add("multi_prompt", $"the shots' durations add up to {sum}, but they must add up to duration ({request.Duration})");
        }
    }

    private static void ValidateElements(GenerationRequest request, GenerationRuleOptions options, Action<string, string> add)
    {
        var elements = request.Elements;
        if (elements.Count > GenerationRequestSchema.Elements.MaxItems)
        {
            add("elements", $"elements must have at most {GenerationRequestSchema.Elements.MaxItems} subjects, not {elements.Count}");
            return;
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < elements.Count; i++)
        {
            var element = elements[i];
            var path = $"elements[{i}]";
            if (string.IsNullOrWhiteSpace(element.Name))
            {
                add(path + ".name", $"{path}.name must not be empty");
            }
            else if (element.Name.Length > GenerationRequestSchema.ElementName.MaxLength || !ElementName().IsMatch(element.Name))
            {
                add(path + ".name", $"{path}.name must be 1 to {GenerationRequestSchema.ElementName.MaxLength} letters, digits, '_' or '-', so prompts can mention it as @name");
            }
            else if (!seen.Add(element.Name))
            {
                add(path + ".name", $"{path}.name '{element.Name}' is used by an earlier element; names must be unique");
            }

            if (string.IsNullOrWhiteSpace(element.Description))
            {
                add(path + ".description", $"{path}.description must not be empty");
            }
            else if (element.Description.Length > GenerationRequestSchema.ElementDescription.MaxLength)
            {
                add(path + ".description", $"{path}.description must be at most {GenerationRequestSchema.ElementDescription.MaxLength} characters");
            }

            var urls = element.ElementInputUrls;
            var urlsRule = GenerationRequestSchema.ElementInputUrls;
            if (urls.Count < urlsRule.MinItems || urls.Count > urlsRule.MaxItems)
            {
                add(path + ".element_input_urls",
                    $"{path}.element_input_urls must have {urlsRule.MinItems} to {urlsRule.MaxItems} images (the first frontal), not {urls.Count}");
                continue;
            }

            for (var j = 0; j < urls.Count; j++)
            {
                CheckImage($"{path}.element_input_urls[{j}]", urls[j], options, add);
            }
        }
    }

    private static void CheckImage(string param, string url, GenerationRuleOptions options, Action<string, string> add)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            add(param, $"{param} must not be empty");
            return;
        }

        if (CheckImageUrl(param, url, options) is { } violation)
        {
            add(violation.Param, violation.Message);
        }
    }

    /// <summary>An image URL's address, or a data URI's content (format, completeness, size caps).</summary>
    private static RuleViolation? CheckImageUrl(string param, string url, GenerationRuleOptions options)
    {
        if (DataUriImage.IsDataUri(url))
        {
            return DataUriImage.Check(param, url, options.MaxImageBytes, options.MaxImagePixels);
        }

        // The server's own uploads live on its own (often loopback or private) address: recognised by signature, not host.
        if (options.OwnImageUrls?.Check(url) is { } verdict)
        {
            return verdict.Accepted ? null : new RuleViolation(param, $"{param} {verdict.Reason}");
        }

        return AddressPolicy.CheckImageUrl(param, url, options.AllowPrivateNetworks);
    }

    private static IEnumerable<(string Param, string? Text)> TextFields(GenerationRequest request)
    {
        yield return ("model", request.Model);
        yield return ("prompt", request.Prompt);
        yield return ("negative_prompt", request.NegativePrompt);
        yield return ("mode", request.Mode);
        yield return ("aspect_ratio", request.AspectRatio);
        yield return ("shot_type", request.ShotType);
        yield return ("callback_url", request.CallbackUrl);
        for (var i = 0; i < request.ImageUrls.Count; i++)
        {
            yield return ($"image_urls[{i}]", request.ImageUrls[i]);
        }

        for (var i = 0; i < request.MultiPrompt.Count; i++)
        {
            yield return ($"multi_prompt[{i}].prompt", request.MultiPrompt[i].Prompt);
        }

        for (var i = 0; i < request.Elements.Count; i++)
        {
            var element = request.Elements[i];
            yield return ($"elements[{i}].name", element.Name);
            yield return ($"elements[{i}].description", element.Description);
            for (var j = 0; j < element.ElementInputUrls.Count; j++)
            {
                yield return ($"elements[{i}].element_input_urls[{j}]", element.ElementInputUrls[j]);
            }
        }
    }

    // Never cuts between the halves of a surrogate pair: half an emoji would make the message itself invalid text.
    private static string Truncate(string? value) =>
        value is null ? "" : value.Length > 40 ? value[..(char.IsHighSurrogate(value[39]) ? 39 : 40)] + "…" : value;

    [GeneratedRegex(ElementNamePattern)]
    private static partial Regex ElementName();

    /// <summary>
    /// Characters as the published schema's <c>maxLength</c> counts them (JSON Schema counts Unicode code points), not
    /// UTF-16 units: an emoji is one character, as the person who typed it sees it.
    /// </summary>
    internal static int CharacterCount(string text)
    {
        var count = text.Length;
        for (var i = 0; i < text.Length - 1; i++)
        {
            if (char.IsSurrogatePair(text[i], text[i + 1]))
            {
                count--;
                i++;
            }
        }

        return count;
    }
}
