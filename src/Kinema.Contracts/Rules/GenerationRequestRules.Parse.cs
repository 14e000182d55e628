using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;

namespace Kinema.Contracts.Rules;

public static partial class GenerationRequestRules
{
    /// <summary>
    /// Reads a create body field by field, reporting every wrong type, then checks the request's rules
    /// (<see cref="Validate"/>). Array indices in paths are 0-based, as in JSON paths: <c>multi_prompt[0].duration</c>.
    /// Unknown fields are ignored; JSON <c>null</c> means absent.
    /// </summary>
    public static ParsedRequest Parse(JsonElement body, GenerationRuleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (body.ValueKind != JsonValueKind.Object)
        {
            return new ParsedRequest(null, [new RuleViolation("", "the request body must be a JSON object")]);
        }

        if (JsonText.FindMalformedPropertyName(body) is { } badName)
        {
            return new ParsedRequest(null, [new RuleViolation(badName, JsonText.MalformedPropertyNameMessage(badName))]);
        }

        var reader = new FieldReader(body);
        var model = reader.String("model");
        var prompt = reader.String("prompt");
        var mode = reader.String("mode");
        var duration = reader.Integer("duration");
        var aspectRatio = reader.String("aspect_ratio");
        var negativePrompt = reader.String("negative_prompt");
        var imageUrls = reader.StringArray("image_urls");
        var lastFrame = reader.String("last_frame_image");
        var watermark = reader.Boolean("watermark");
        var audio = reader.Boolean("audio");
        var multiShot = reader.Boolean("multi_shot");
        var shotType = reader.String("shot_type");
        var callbackUrl = reader.String("callback_url");
        var shots = reader.Shots("multi_prompt");
        var elements = reader.Elements(body);

        if (model is null && !reader.HasError("model"))
        {
            reader.Add("model", "model is required");
        }

        var images = imageUrls?.ToList() ?? [];
        if (lastFrame is not null)
        {
            if (images.Count == 0)
            {
                reader.Add("last_frame_image", "last_frame_image needs a first frame in image_urls: a last frame alone is invalid");
            }
            else if (images.Count >= MaxImageUrls)
            {
                reader.Add("last_frame_image", "last_frame_image cannot be combined with two image_urls (the second one is already the last frame)");
            }
            else if (string.IsNullOrWhiteSpace(lastFrame))
            {
                reader.Add("last_frame_image", "last_frame_image must not be empty");
            }
            else if (CheckImageUrl("last_frame_image", lastFrame, options) is { } bad)
            {
                // Checked under its own name: once appended it would be reported as image_urls[1], a field the client never sent.
                reader.Add(bad.Param, bad.Message);
            }
            else
            {
                images.Add(lastFrame);
            }
        }

        if (reader.Violations.Count > 0)
        {
            return new ParsedRequest(null, reader.Violations);
        }

        var request = new GenerationRequest
        {
            Model = model!,
            Prompt = prompt,
            Mode = mode ?? GenerationModes.Standard,
            Duration = duration ?? DefaultDuration,
            AspectRatio = aspectRatio ?? AspectRatios.Landscape,
            NegativePrompt = negativePrompt,
            ImageUrls = images,
            Watermark = watermark ?? false,
            Audio = audio ?? false,
            MultiShot = multiShot ?? false,
            // Outside multi-shot mode shot_type and multi_prompt mean nothing; like unknown fields they are dropped.
            ShotType = multiShot == true ? shotType : null,
            MultiPrompt = multiShot == true ? shots ?? [] : [],
            Elements = elements ?? [],
            CallbackUrl = callbackUrl,
        };
        var violations = Validate(request, options);
        return violations.Count == 0 ? new ParsedRequest(request, []) : new ParsedRequest(null, violations);
    }

    /// <summary>Reads typed fields, recording a violation for each one of the wrong JSON type.</summary>
    private sealed class FieldReader(JsonElement body)
    {
        private readonly List<RuleViolation> _violations = [];

        public IReadOnlyList<RuleViolation> Violations => _violations;

        public void Add(string param, string message) => _violations.Add(new RuleViolation(param, message));

        public bool HasError(string param) => _violations.Any(v => v.Param == param);

        public string? String(string name) => ReadString(body, name, name);

        public int? Integer(string name) => ReadInteger(body, name, name);

        public bool? Boolean(string name)
        {
            if (!TryGet(body, name, out var value))
            {
                return null;
            }

            if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return value.GetBoolean();
            }

            Add(name, $"{name} must be a JSON boolean (true or false), not {JsonText.KindName(value)}");
            return null;
        }

        public IReadOnlyList<string>? StringArray(string name) => ReadStringArray(body, name, name);

        public IReadOnlyList<Shot>? Shots(string name)
        {
            if (!TryGet(body, name, out var value))
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.Array)
            {
                Add(name, $"{name} must be a JSON array of shots, not {JsonText.KindName(value)}");
                return null;
            }

            var shots = new List<Shot>();
            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                var path = $"{name}[{index++}]";
                if (item.ValueKind != JsonValueKind.Object)
                {
                    Add(path, $"{path} must be an object with index, prompt and duration, not {JsonText.KindName(item)}");
                    continue;
                }

                var shotIndex = ReadInteger(item, "index", path + ".index");
                var prompt = ReadString(item, "prompt", path + ".prompt");
                var duration = ReadInteger(item, "duration", path + ".duration");
                RequireAll(path, (shotIndex, "index"), (prompt, "prompt"), (duration, "duration"));
                shots.Add(new Shot(shotIndex ?? 0, prompt ?? "", duration ?? 0));
            }

            return shots;
        }

        public IReadOnlyList<Element>? Elements(JsonElement root)
        {
            var hasElements = TryGet(root, "elements", out var elements);
            var hasAlias = TryGet(root, "kling_elements", out var alias);
            if (hasElements && hasAlias)
            {
                Add("kling_elements", "give elements or kling_elements, not both (they are the same field)");
                return null;
            }

            if (!hasElements && !hasAlias)
            {
                return null;
            }

            var name = hasElements ? "elements" : "kling_elements";
            var value = hasElements ? elements : alias;
            if (value.ValueKind != JsonValueKind.Array)
            {
                Add(name, $"{name} must be a JSON array of elements, not {JsonText.KindName(value)}");
                return null;
            }

            var list = new List<Element>();
            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                // Paths always say "elements": the rules and the SDK know the field by that name.
                var path = $"elements[{index++}]";
                if (item.ValueKind != JsonValueKind.Object)
                {
                    Add(path, $"{path} must be an object with name, description and element_input_urls, not {JsonText.KindName(item)}");
                    continue;
                }

                var elementName = ReadString(item, "name", path + ".name");
                var description = ReadString(item, "description", path + ".description");
                var urls = ReadStringArray(item, "element_input_urls", path + ".element_input_urls");
                RequireAll(path, (elementName, "name"), (description, "description"), (urls, "element_input_urls"));
                list.Add(new Element(elementName ?? "", description ?? "", urls ?? []));
            }

            return list;
        }

        private void RequireAll(string path, params (object? Value, string Field)[] fields)
        {
            foreach (var (value, field) in fields)
            {
                var param = $"{path}.{field}";
                if (value is null && !HasError(param))
                {
                    Add(param, $"{param} is required");
                }
            }
        }

        private string? ReadString(JsonElement parent, string name, string param)
        {
            if (!TryGet(parent, name, out var value))
            {
                return null;
            }

            if (JsonText.TryGetString(value, out var text))
            {
                return text;
            }

            Add(param, JsonText.NotTextMessage(param, value));
            return null;
        }

        private int? ReadInteger(JsonElement parent, string name, string param)
        {
            if (!TryGet(parent, name, out var value))
            {
                return null;
            }

            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number))
            {
                return number;
            }

            Add(param, value.ValueKind switch
            {
                // The contract singles this out: "6" (a string) is an error, however tempting to accept.
                JsonValueKind.String => $"{param} must be a JSON integer, not a string (write {name}: 6, not {name}: \"6\")",
                JsonValueKind.Number => $"{param} must be a whole number{(name == "duration" ? " of seconds" : "")}, not {value.GetRawText()}",
                _ => $"{param} must be a JSON integer, not {JsonText.KindName(value)}",
            });
            return null;
        }

        private IReadOnlyList<string>? ReadStringArray(JsonElement parent, string name, string param)
        {
            if (!TryGet(parent, name, out var value))
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.Array)
            {
                Add(param, $"{param} must be a JSON array of strings, not {JsonText.KindName(value)}");
                return null;
            }

            var items = new List<string>();
            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                var itemPath = $"{param}[{index++}]";
                if (JsonText.TryGetString(item, out var text))
                {
                    items.Add(text);
                }
                else
                {
                    Add(itemPath, JsonText.NotTextMessage(itemPath, item));
                }
            }

            return items;
        }

        private static bool TryGet(JsonElement parent, string name, out JsonElement value) =>
            parent.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    }
}
