using System.Globalization;
using System.Text.Json.Nodes;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;

namespace Kinema.Engines.Kling;

/// <summary>
/// Our contract's request → the official API's body (legacy endpoints, <c>model_name</c> in the body). Field names
/// follow Kuaishou's published docs as summarised in <c>shared/spec/kling-official-api.md</c>: durations are strings
/// there, audio is <c>sound: on|off</c>, the watermark is <c>watermark_info.enabled</c>, the last frame is
/// <c>image_tail</c>, and images are URLs or raw base64 without a <c>data:</c> prefix.
/// </summary>
internal static class KlingRequestMapper
{
    public const string TextToVideo = "text2video";
    public const string ImageToVideo = "image2video";

    /// <summary>The official element library's limits on a subject's name and description.</summary>
    public const int MaxElementName = 20;
    public const int MaxElementDescription = 100;

    /// <summary>What the official API cannot take as our contract gives it.</summary>
    public static IReadOnlyList<RuleViolation> Unsupported(GenerationRequest request)
    {
        var violations = new List<RuleViolation>();
        if (request.Elements.Count > 0 && !request.IsImageToVideo)
        {
            // The official API takes element_list on image2video only; dropping the subjects silently would be worse.
            violations.Add(new RuleViolation("elements",
                "elements: the kling engine takes elements only with a first frame (image_urls), as the official image2video does; add one or route this model to another engine"));
        }

        for (var i = 0; i < request.Elements.Count; i++)
        {
            var element = request.Elements[i];
            if (element.Name.Length > MaxElementName)
            {
                violations.Add(new RuleViolation($"elements[{i}].name",
                    $"elements[{i}].name: the kling engine's element library takes names of at most {MaxElementName} characters"));
            }

            if (element.Description.Length > MaxElementDescription)
            {
                violations.Add(new RuleViolation($"elements[{i}].description",
                    $"elements[{i}].description: the kling engine's element library takes descriptions of at most {MaxElementDescription} characters"));
            }
        }

        return violations;
    }

    /// <summary>The element library's create body for one of our on-the-fly elements.</summary>
    public static JsonObject ElementBody(Element element, string externalTaskId)
    {
        var references = new JsonArray();
        foreach (var url in element.ElementInputUrls.Skip(1))
        {
            references.Add(new JsonObject { ["image_url"] = ImageValue(url) });
        }

        return new JsonObject
        {
            ["element_name"] = element.Name,
            ["element_description"] = element.Description,
            ["reference_type"] = "image_refer",
            ["element_image_list"] = new JsonObject
            {
                ["frontal_image"] = ImageValue(element.ElementInputUrls[0]),
                ["refer_images"] = references,
            },
            ["external_task_id"] = externalTaskId,
        };
    }

    public static (string Endpoint, JsonObject Body) Map(
        GenerationRequest request, string modelName, string externalTaskId, Uri? callbackUrl, IReadOnlyList<long>? elementIds = null)
    {
        var endpoint = request.IsImageToVideo ? ImageToVideo : TextToVideo;
        var body = new JsonObject
        {
            ["model_name"] = modelName,
            ["mode"] = request.Mode,
            ["duration"] = request.Duration.ToString(CultureInfo.InvariantCulture),
            ["sound"] = request.Audio ? "on" : "off",
            ["watermark_info"] = new JsonObject { ["enabled"] = request.Watermark },
            ["external_task_id"] = externalTaskId,
        };
        if (request.Prompt is { } prompt)
        {
            body["prompt"] = prompt;
        }

        if (request.NegativePrompt is { } negative)
        {
            body["negative_prompt"] = negative;
        }

        if (endpoint == TextToVideo)
        {
            // image2video takes the picture's ratio, so aspect_ratio is only sent for text-to-video.
            body["aspect_ratio"] = request.AspectRatio;
        }
        else
        {
            body["image"] = ImageValue(request.ImageUrls[0]);
            if (request.ImageUrls.Count > 1)
            {
                body["image_tail"] = ImageValue(request.ImageUrls[1]);
            }
        }

        if (request.MultiShot)
        {
            body["multi_shot"] = true;
            body["shot_type"] = request.ShotType;
            if (request.MultiPrompt.Count > 0)
            {
                var shots = new JsonArray();
                foreach (var shot in request.MultiPrompt)
                {
                    shots.Add(new JsonObject
                    {
                        ["index"] = shot.Index,
                        ["prompt"] = shot.Prompt,
                        ["duration"] = shot.Duration.ToString(CultureInfo.InvariantCulture),
                    });
                }

                body["multi_prompt"] = shots;
            }

            if (request.ShotType == ShotTypes.Customize)
            {
                // "with multi_shot true the top-level prompt is ignored": the official example sends it empty.
                body["prompt"] = request.Prompt ?? "";
            }
        }

        if (elementIds is { Count: > 0 })
        {
            var list = new JsonArray();
            foreach (var id in elementIds)
            {
                list.Add(new JsonObject { ["element_id"] = id });
            }

            body["element_list"] = list;
        }

        if (callbackUrl is not null)
        {
            body["callback_url"] = callbackUrl.ToString();
        }

        return (endpoint, body);
    }

    /// <summary>URLs pass through; a data URI becomes the raw base64 the official API wants.</summary>
    internal static string ImageValue(string url) =>
        url.StartsWith("data:", StringComparison.OrdinalIgnoreCase) ? url[(url.IndexOf(',', StringComparison.Ordinal) + 1)..] : url;
}
