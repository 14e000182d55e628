using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Contracts.Rules;

namespace Kinema.Tests.Contracts;

/// <summary>
/// The published JSON Schema (<c>/v1/model-schema</c>, the OpenAPI document) against the validator: every limit and every
/// enumeration the schema states is read from the schema itself and tried on the rules — the value at the limit is
/// accepted, one past it refused naming the field. A limit added to the schema without a way to try it fails here.
/// </summary>
public sealed class GenerationRequestSchemaTests
{
    private static readonly JsonObject Schema = GenerationRequestSchema.ToJsonSchema();
    private static readonly string[] LimitKeywords = ["minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"];

    /// <summary>Every (field path, keyword, limit) the schema states; array items are written <c>field[]</c>.</summary>
    public static TheoryData<string, string, int> Limits()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var (path, schema) in Walk(Schema, ""))
        {
            foreach (var keyword in LimitKeywords)
            {
                if (schema[keyword] is { } limit)
                {
                    data.Add(path, keyword, limit.GetValue<int>());
                }
            }
        }

        return data;
    }

    /// <summary>Every (field path, allowed value) of the schema's enumerations.</summary>
    public static TheoryData<string, string> EnumValues()
    {
        var data = new TheoryData<string, string>();
        foreach (var (path, schema) in Walk(Schema, ""))
        {
            foreach (var value in schema["enum"]?.AsArray() ?? [])
            {
                data.Add(path, value!.GetValue<string>());
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Limits))]
    public void The_schema_limit_is_the_limit_the_validator_enforces(string path, string keyword, int limit)
    {
        var body = SizedBodies[path];
        var outside = keyword.StartsWith("max", StringComparison.Ordinal) ? limit + 1 : limit - 1;

        Violations(body(limit)).Should().BeEmpty($"{path} at its {keyword} of {limit} is valid");
        Violations(body(outside)).Should().Contain(v => v.Param.StartsWith(Field(path), StringComparison.Ordinal),
            $"{path} = {outside} is past its {keyword} of {limit}");
    }

    [Theory]
    [MemberData(nameof(EnumValues))]
    public void Every_enumerated_value_is_accepted(string path, string value) =>
        Violations(ValuedBodies[path](value)).Should().BeEmpty();

    [Theory]
    [InlineData("model")]
    [InlineData("mode")]
    [InlineData("aspect_ratio")]
    [InlineData("shot_type")]
    public void A_value_outside_the_enumeration_is_refused(string path)
    {
        ((JsonArray)FieldSchema(path)["enum"]!).Select(v => v!.GetValue<string>()).Should().NotContain("other");
        Violations(ValuedBodies[path]("other")).Should().Contain(v => v.Param == path);
    }

    [Fact]
    public void Every_enumeration_of_the_schema_is_tried() =>
        Walk(Schema, "").Where(field => field.Schema["enum"] is not null).Select(field => field.Path)
            .Should().BeEquivalentTo(ValuedBodies.Keys);

    [Fact]
    public void The_schema_names_the_defaults_the_parser_applies()
    {
        using var document = JsonDocument.Parse("""{"model":"kling-v3","prompt":"a dog"}""");
        var request = GenerationRequestRules.Parse(document.RootElement, GenerationRuleOptions.Default).Request!;

        FieldSchema("mode")["default"]!.GetValue<string>().Should().Be(request.Mode);
        FieldSchema("duration")["default"]!.GetValue<int>().Should().Be(request.Duration);
        FieldSchema("aspect_ratio")["default"]!.GetValue<string>().Should().Be(request.AspectRatio);
        FieldSchema("multi_shot")["default"]!.GetValue<bool>().Should().Be(request.MultiShot);
        Schema["required"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal("model");
    }

    // Bodies valid except for the one field under test, set to a size n.
    private static readonly Dictionary<string, Func<int, JsonObject>> SizedBodies = new()
    {
        ["prompt"] = n => Body(("prompt", new string('a', n))),
        ["negative_prompt"] = n => Body(("negative_prompt", new string('a', n))),
        ["duration"] = n => Body(("duration", n)),
        ["image_urls"] = n => Body(("image_urls", Urls(n))),
        ["callback_url"] = n => Body(("callback_url", "https://example.com/" + new string('a', n - "https://example.com/".Length))),
        ["multi_prompt"] = n => Storyboard(Enumerable.Range(1, n).Select(i => Shot(i, "a shot", i == n ? 15 - (n - 1) : 1)).ToArray()),
        ["multi_prompt[].index"] = n => n < 1
            ? Storyboard(Shot(n, "a shot", 15))
            : Storyboard(Enumerable.Range(1, n).Select(i => Shot(i, "a shot", i == n ? 15 - (n - 1) : 1)).ToArray()),
        ["multi_prompt[].prompt"] = n => Storyboard(Shot(1, new string('a', n), 15)),
        ["multi_prompt[].duration"] = n => n >= 15 ? Storyboard(Shot(1, "a shot", n)) : Storyboard(Shot(1, "a shot", n), Shot(2, "a shot", 15 - n)),
        ["elements"] = n => Elements("elements", n, "a subject", 2),
        ["elements[].name"] = n => Elements("elements", 1, "a subject", 2, new string('a', n)),
        ["elements[].description"] = n => Elements("elements", 1, new string('a', n), 2),
        ["elements[].element_input_urls"] = n => Elements("elements", 1, "a subject", n),
        ["kling_elements"] = n => Elements("kling_elements", n, "a subject", 2),
        ["kling_elements[].name"] = n => Elements("kling_elements", 1, "a subject", 2, new string('a', n)),
        ["kling_elements[].description"] = n => Elements("kling_elements", 1, new string('a', n), 2),
        ["kling_elements[].element_input_urls"] = n => Elements("kling_elements", 1, "a subject", n),
    };

    // Bodies valid except for the one field under test, set to a value.
    private static readonly Dictionary<string, Func<string, JsonObject>> ValuedBodies = new()
    {
        ["model"] = value => Body(("model", value)),
        ["mode"] = value => Body(("mode", value)),
        ["aspect_ratio"] = value => Body(("aspect_ratio", value)),
        ["shot_type"] = value => Body(("multi_shot", true), ("shot_type", value), ("duration", 5),
            ("multi_prompt", new JsonArray(Shot(1, "a shot", 5)))),
    };

    private static IReadOnlyList<RuleViolation> Violations(JsonObject body)
    {
        using var document = JsonDocument.Parse(body.ToJsonString());
        return GenerationRequestRules.Parse(document.RootElement, GenerationRuleOptions.Default).Violations;
    }

    // The validator reports kling_elements under the name the rules know it by, elements; items as [i].
    private static string Field(string path) => path.Replace("kling_elements", "elements", StringComparison.Ordinal).Split('[')[0];

    private static JsonObject FieldSchema(string name) => Schema["properties"]![name]!.AsObject();

    private static IEnumerable<(string Path, JsonObject Schema)> Walk(JsonObject schema, string path)
    {
        if (path.Length > 0)
        {
            yield return (path, schema);
        }

        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, property) in properties)
            {
                foreach (var field in Walk(property!.AsObject(), path.Length == 0 ? name : $"{path}.{name}"))
                {
                    yield return field;
                }
            }
        }

        if (schema["items"] is JsonObject items)
        {
            foreach (var field in Walk(items, path + "[]"))
            {
                yield return field;
            }
        }
    }

    private static JsonObject Body(params (string Name, JsonNode? Value)[] fields)
    {
        var body = new JsonObject { ["model"] = "kling-v3", ["prompt"] = "a dog" };
        foreach (var (name, value) in fields)
        {
            body[name] = value;
        }

        return body;
    }

    private static JsonObject Storyboard(params JsonObject[] shots) =>
        Body(("multi_shot", true), ("shot_type", "customize"), ("duration", 15), ("multi_prompt", new JsonArray(shots)));

    private static JsonObject Shot(int index, string prompt, int duration) =>
        new() { ["index"] = index, ["prompt"] = prompt, ["duration"] = duration };

    private static JsonArray Urls(int count) =>
        new(Enumerable.Range(0, count).Select(i => (JsonNode)JsonValue.Create($"https://example.com/{i}.jpg")).ToArray());

    private static JsonObject Elements(string field, int count, string description, int images, string? name = null) =>
        Body((field, new JsonArray(Enumerable.Range(0, count).Select(i => (JsonNode)new JsonObject
        {
            ["name"] = name ?? $"subject{i}",
            ["description"] = description,
            ["element_input_urls"] = Urls(images),
        }).ToArray())));
}
