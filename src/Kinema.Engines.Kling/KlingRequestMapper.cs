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

    /// <summary>What the official API cannot take as our contract gives it.</summary>
    public static IReadOnlyList<RuleViolation> Unsupported(GenerationRequest request)
    {
        var violations = new List<RuleViolation>();
        if (request.Elements.Count > 0)
        {
            // The official API only takes elements created beforehand in its element library (element_list of ids);
            // refusing is honest where silently dropping the subjects would not be.
            violations.Add(new RuleViolation("elements",
                "elements: the kling engine cannot take on-the-fly elements (the official API needs them created in its element library first); remove them or route this model to another engine"));
        }

        return violations;
    }

    public static (string Endpoint, JsonObject Body) Map(GenerationRequest request, string modelName, string externalTaskId, Uri? callbackUrl)
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
