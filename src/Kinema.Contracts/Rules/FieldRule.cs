using System.Text.Json.Nodes;

namespace Kinema.Contracts.Rules;

/// <summary>
/// One field of a request body as data: its JSON type, limits, allowed values and description. The validator checks
/// against these values and the JSON Schema of <c>/v1/model-schema</c> and <c>/openapi/v1.json</c> is written from
/// them, so what is documented is what is enforced.
/// </summary>
public sealed record FieldRule
{
    /// <summary>The JSON property name, e.g. <c>duration</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The JSON Schema type: <c>string</c>, <c>integer</c>, <c>boolean</c>, <c>array</c> or <c>object</c>.</summary>
    public required string Type { get; init; }

    /// <summary>What the field means and the rules no keyword can express.</summary>
    public required string Description { get; init; }

    /// <summary>The smallest accepted integer.</summary>
    public int? Minimum { get; init; }

    /// <summary>The largest accepted integer.</summary>
    public int? Maximum { get; init; }

    /// <summary>The shortest accepted string, in UTF-16 code units.</summary>
    public int? MinLength { get; init; }

    /// <summary>The longest accepted string, in UTF-16 code units.</summary>
    public int? MaxLength { get; init; }

    /// <summary>The fewest array items.</summary>
    public int? MinItems { get; init; }

    /// <summary>The most array items.</summary>
    public int? MaxItems { get; init; }

    /// <summary>The only accepted values of a string, when it is an enumeration.</summary>
    public IReadOnlyList<string>? Values { get; init; }

    /// <summary>A regular expression every accepted string matches.</summary>
    public string? Pattern { get; init; }

    /// <summary>A JSON Schema format, e.g. <c>uri</c>.</summary>
    public string? Format { get; init; }

    /// <summary>The value taken when the field is absent: a string, int or bool.</summary>
    public object? Default { get; init; }

    /// <summary>An array's item.</summary>
    public FieldRule? Items { get; init; }

    /// <summary>An object's properties.</summary>
    public IReadOnlyList<FieldRule>? Properties { get; init; }

    /// <summary>An object's required property names.</summary>
    public IReadOnlyList<string>? Required { get; init; }

    /// <summary>True for a field kept for older clients.</summary>
    public bool Deprecated { get; init; }

    /// <summary>A reusable schema name for an object (<c>Shot</c>, <c>Element</c>), used by OpenAPI components.</summary>
    public string? SchemaName { get; init; }

    /// <summary>True when <paramref name="value"/> is one of <see cref="Values"/> (or there is no enumeration).</summary>
    public bool Allows(string? value) => Values is null || (value is not null && Values.Contains(value, StringComparer.Ordinal));

    /// <summary>True when <paramref name="value"/> lies within <see cref="Minimum"/> and <see cref="Maximum"/>.</summary>
    public bool InRange(long value) => value >= (Minimum ?? long.MinValue) && value <= (Maximum ?? long.MaxValue);

    /// <summary>The values as a message lists them: <c>std, pro, 4k</c>.</summary>
    public string ValueList => Values is null ? "" : string.Join(", ", Values);

    /// <summary>This field as a JSON Schema (draft 2020-12 keywords that OpenAPI 3.0 and 3.1 both read).</summary>
    public JsonObject ToJsonSchema()
    {
        var schema = new JsonObject { ["type"] = Type, ["description"] = Description };
        if (Values is not null)
        {
            schema["enum"] = new JsonArray(Values.Select(value => (JsonNode)JsonValue.Create(value)).ToArray());
        }

        Add(schema, "minimum", Minimum);
        Add(schema, "maximum", Maximum);
        Add(schema, "minLength", MinLength);
        Add(schema, "maxLength", MaxLength);
        Add(schema, "minItems", MinItems);
        Add(schema, "maxItems", MaxItems);
        if (Pattern is not null)
        {
            schema["pattern"] = Pattern;
        }

        if (Format is not null)
        {
            schema["format"] = Format;
        }

        schema["default"] = Default switch
        {
            string text => JsonValue.Create(text),
            int number => JsonValue.Create(number),
            bool flag => JsonValue.Create(flag),
            _ => null,
        };
        if (schema["default"] is null)
        {
            schema.Remove("default");
        }

        if (Deprecated)
        {
            schema["deprecated"] = true;
        }

        if (Items is not null)
        {
            schema["items"] = Items.ToJsonSchema();
        }

        if (Properties is not null)
        {
            var properties = new JsonObject();
            foreach (var property in Properties)
            {
                properties[property.Name] = property.ToJsonSchema();
            }

            schema["properties"] = properties;
            if (Required is { Count: > 0 })
            {
                schema["required"] = new JsonArray(Required.Select(name => (JsonNode)JsonValue.Create(name)).ToArray());
            }
        }

        return schema;
    }

    private static void Add(JsonObject schema, string keyword, int? value)
    {
        if (value is { } number)
        {
            schema[keyword] = number;
        }
    }
}
