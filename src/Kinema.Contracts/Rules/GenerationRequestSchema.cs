using System.Text.Json.Nodes;
using Kinema.Contracts.Requests;
using static Kinema.Contracts.Rules.GenerationRequestRules;

namespace Kinema.Contracts.Rules;

/// <summary>
/// The create body of <c>POST /v1/videos/generations</c> field by field: types, limits, allowed values, defaults and
/// descriptions. <see cref="GenerationRequestRules.Validate"/> checks against these rules, and <see cref="ToJsonSchema"/>
/// writes them as the JSON Schema that <c>/v1/model-schema</c> and the OpenAPI document publish — one source.
/// Rules between fields (prompt optional only in multi-shot mode, the shots adding up to <c>duration</c>, a last frame
/// needing a first) are enforced by the validator and stated in the descriptions.
/// </summary>
public static class GenerationRequestSchema
{
    /// <summary>The operation name <c>/v1/model-schema</c> knows this body by.</summary>
    public const string Operation = "video_generation";

    /// <summary><c>model</c>.</summary>
    public static FieldRule Model { get; } = new()
    {
        Name = "model",
        Type = "string",
        Values = [ModelNames.KlingV3],
        Description = "The model; kling-v3.",
    };

    /// <summary><c>prompt</c>.</summary>
    public static FieldRule Prompt { get; } = new()
    {
        Name = "prompt",
        Type = "string",
        MaxLength = MaxPromptLength,
        Description = "Scene, action and style (English recommended). Required, unless multi_shot is true; with shot_type "
                      + "'intelligence' and no multi_prompt it is required again. Mention an element as @name.",
    };

    /// <summary><c>negative_prompt</c>.</summary>
    public static FieldRule NegativePrompt { get; } = new()
    {
        Name = "negative_prompt",
        Type = "string",
        MaxLength = MaxPromptLength,
        Description = "What to exclude, e.g. 'blurry, low quality, distorted'.",
    };

    /// <summary><c>mode</c>.</summary>
    public static FieldRule Mode { get; } = new()
    {
        Name = "mode",
        Type = "string",
        Values = GenerationModes.All,
        Default = GenerationModes.Standard,
        Description = "std = standard 720p, pro = professional 1080p, 4k = 2160p.",
    };

    /// <summary><c>duration</c>.</summary>
    public static FieldRule Duration { get; } = new()
    {
        Name = "duration",
        Type = "integer",
        Minimum = MinDuration,
        Maximum = MaxDuration,
        Default = 5,
        Description = "Length in whole seconds. Must be a JSON number: \"6\" (a string) is an error.",
    };

    /// <summary><c>aspect_ratio</c>.</summary>
    public static FieldRule AspectRatio { get; } = new()
    {
        Name = "aspect_ratio",
        Type = "string",
        Values = AspectRatios.All,
        Default = AspectRatios.Landscape,
        Description = "16:9 landscape, 9:16 portrait, 1:1 square. For image-to-video the image's ratio may override it.",
    };

    /// <summary><c>image_urls</c>.</summary>
    public static FieldRule ImageUrls { get; } = new()
    {
        Name = "image_urls",
        Type = "array",
        MaxItems = MaxImageUrls,
        Items = ImageUrl("An https:// or http:// image URL (JPEG, PNG or WebP), a data:image/(png|jpeg|webp);base64, URI, or the url of POST /v1/uploads/images."),
        Description = "Absent or empty: text-to-video. One image: the first frame. Two: first and last frame.",
    };

    /// <summary><c>last_frame_image</c>.</summary>
    public static FieldRule LastFrameImage { get; } = ImageUrl(
        "An older revision's way to give the last frame: the same as a second image_urls entry. Needs exactly one image_urls entry.")
        with
    { Name = "last_frame_image", Deprecated = true };

    /// <summary><c>watermark</c>.</summary>
    public static FieldRule Watermark { get; } = Flag("watermark", "Adds a visible watermark.");

    /// <summary><c>audio</c>.</summary>
    public static FieldRule Audio { get; } = Flag("audio", "Generates the video with an audio track.");

    /// <summary><c>multi_shot</c>.</summary>
    public static FieldRule MultiShot { get; } = Flag("multi_shot",
        "Multi-shot storyboard mode: needs shot_type; the top-level prompt may then be omitted.") with
    { Default = false };

    /// <summary><c>shot_type</c>.</summary>
    public static FieldRule ShotType { get; } = new()
    {
        Name = "shot_type",
        Type = "string",
        Values = [ShotTypes.Customize, ShotTypes.Intelligence],
        Description = "Required when multi_shot is true. customize: the shots of multi_prompt; intelligence: the engine "
                      + "splits the prompt into shots itself. Ignored when multi_shot is not true.",
    };

    /// <summary><c>multi_prompt[].index</c>.</summary>
    public static FieldRule ShotIndex { get; } = new()
    {
        Name = "index",
        Type = "integer",
        Minimum = 1,
        Maximum = MaxShots,
        Description = "The shot's position: 1, 2, 3 … continuous, in order.",
    };

    /// <summary><c>multi_prompt[].prompt</c>.</summary>
    public static FieldRule ShotPrompt { get; } = new()
    {
        Name = "prompt",
        Type = "string",
        MinLength = 1,
        MaxLength = MaxShotPromptLength,
        Description = "What happens in the shot.",
    };

    /// <summary><c>multi_prompt[].duration</c>.</summary>
    public static FieldRule ShotDuration { get; } = new()
    {
        Name = "duration",
        Type = "integer",
        Minimum = 1,
        Maximum = MaxDuration,
        Description = "Whole seconds, at most the task's duration; the shots' durations add up to exactly duration.",
    };

    /// <summary>One shot of <c>multi_prompt</c>.</summary>
    public static FieldRule Shot { get; } = new()
    {
        Name = "shot",
        Type = "object",
        SchemaName = "Shot",
        Required = ["index", "prompt", "duration"],
        Description = "One shot of a storyboard.",
        Properties = [ShotIndex, ShotPrompt, ShotDuration],
    };

    /// <summary><c>multi_prompt</c>.</summary>
    public static FieldRule MultiPrompt { get; } = new()
    {
        Name = "multi_prompt",
        Type = "array",
        MinItems = 1,
        MaxItems = MaxShots,
        Items = Shot,
        Description = "The storyboard: required with shot_type 'customize', guidance with 'intelligence'. Ignored when multi_shot is not true.",
    };

    /// <summary><c>elements[].name</c>.</summary>
    public static FieldRule ElementName { get; } = new()
    {
        Name = "name",
        Type = "string",
        MinLength = 1,
        MaxLength = MaxElementNameLength,
        Pattern = ElementNamePattern,
        Description = "Letters, digits, '_' or '-', unique within the request (case-insensitively).",
    };

    /// <summary><c>elements[].description</c>.</summary>
    public static FieldRule ElementDescription { get; } = new()
    {
        Name = "description",
        Type = "string",
        MinLength = 1,
        MaxLength = MaxElementDescriptionLength,
        Description = "What the subject is.",
    };

    /// <summary><c>elements[].element_input_urls</c>.</summary>
    public static FieldRule ElementInputUrls { get; } = new()
    {
        Name = "element_input_urls",
        Type = "array",
        MinItems = MinElementImages,
        MaxItems = MaxElementImages,
        Items = ImageUrl("An image of the subject: URL, data URI or upload URL, like image_urls."),
        Description = "The first is the frontal image, the rest are references.",
    };

    /// <summary>One element of <c>elements</c>.</summary>
    public static FieldRule Element { get; } = new()
    {
        Name = "element",
        Type = "object",
        SchemaName = "Element",
        Required = ["name", "description", "element_input_urls"],
        Description = "A reference subject created on the fly, mentioned in prompts as @name.",
        Properties = [ElementName, ElementDescription, ElementInputUrls],
    };

    /// <summary><c>elements</c>.</summary>
    public static FieldRule Elements { get; } = new()
    {
        Name = "elements",
        Type = "array",
        MaxItems = MaxElements,
        Items = Element,
        Description = "Reference subjects. Also accepted as kling_elements (not both).",
    };

    /// <summary><c>kling_elements</c>: a peer's name for <c>elements</c>.</summary>
    public static FieldRule KlingElements { get; } = Elements with
    {
        Name = "kling_elements",
        Deprecated = true,
        Description = "The same as elements, under a peer service's name; give one or the other.",
    };

    /// <summary><c>callback_url</c>.</summary>
    public static FieldRule CallbackUrl { get; } = new()
    {
        Name = "callback_url",
        Type = "string",
        Format = "uri",
        MaxLength = 8192,
        Description = "Kinema addition: an https:// or http:// URL that receives a signed webhook when the task ends.",
    };

    /// <summary>Every top-level field, in the contract's order.</summary>
    public static IReadOnlyList<FieldRule> Fields { get; } =
    [
        Model, Prompt, Mode, Duration, AspectRatio, NegativePrompt, ImageUrls, Watermark, Audio, MultiShot, ShotType,
        MultiPrompt, Elements, KlingElements, LastFrameImage, CallbackUrl,
    ];

    /// <summary>The whole create body as a JSON Schema object.</summary>
    public static FieldRule Body { get; } = new()
    {
        Name = "body",
        Type = "object",
        SchemaName = "CreateGenerationRequest",
        Properties = Fields,
        Required = [Model.Name],
        Description = "A Kling v3 video-generation request. Unknown fields are ignored; JSON null means absent.",
    };

    /// <summary>The create body as a standalone JSON Schema (draft 2020-12).</summary>
    public static JsonObject ToJsonSchema()
    {
        var schema = new JsonObject { ["$schema"] = "https://json-schema.org/draft/2020-12/schema", ["title"] = Body.SchemaName };
        foreach (var (key, value) in Body.ToJsonSchema())
        {
            schema[key] = value?.DeepClone();
        }

        return schema;
    }

    private static FieldRule Flag(string name, string description) =>
        new() { Name = name, Type = "boolean", Description = description };

    private static FieldRule ImageUrl(string description) =>
        // No "format": uri — generated clients would type it System.Uri, which cannot hold a 20 MiB data URI.
        new() { Name = "url", Type = "string", Description = description };
}
