using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace Kinema.EndToEnd.Fuzzing;

/// <summary>
/// A JSON tree that can say what System.Text.Json refuses to write: lone surrogate escapes, raw control escapes,
/// duplicate keys, numbers no .NET type holds. Strings and keys are kept as their escaped JSON text.
/// </summary>
internal abstract record JsonTree
{
    public abstract void WriteTo(StringBuilder builder);

    // Sealed, so the records below do not synthesise their own ToString: a body prints as the JSON it is.
    public sealed override string ToString()
    {
        var builder = new StringBuilder();
        WriteTo(builder);
        return builder.ToString();
    }

    /// <summary>A string, number or literal as its raw JSON text.</summary>
    public sealed record Raw(string Text) : JsonTree
    {
        public override void WriteTo(StringBuilder builder) => builder.Append(Text);
    }

    public sealed record Array(ImmutableList<JsonTree> Items) : JsonTree
    {
        public override void WriteTo(StringBuilder builder)
        {
            builder.Append('[');
            for (var i = 0; i < Items.Count; i++)
            {
                if (i > 0)
                {
                    builder.Append(',');
                }

                Items[i].WriteTo(builder);
            }

            builder.Append(']');
        }
    }

    /// <summary>An object whose keys are escaped JSON text (without quotes); duplicates allowed.</summary>
    public sealed record Object(ImmutableList<(string Key, JsonTree Value)> Members) : JsonTree
    {
        public override void WriteTo(StringBuilder builder)
        {
            builder.Append('{');
            for (var i = 0; i < Members.Count; i++)
            {
                if (i > 0)
                {
                    builder.Append(',');
                }

                builder.Append('"').Append(Members[i].Key).Append("\":");
                Members[i].Value.WriteTo(builder);
            }

            builder.Append('}');
        }
    }

    public static JsonTree String(string value) => new Raw("\"" + Escape(value) + "\"");

    /// <summary>Escapes everything outside printable ASCII as \uXXXX, so any .NET string (lone surrogates too) is expressible.</summary>
    public static string Escape(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            if (c is < ' ' or > '~' or '"' or '\\')
            {
                builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    public static JsonTree From(JsonNode? node) => node switch
    {
        null => new Raw("null"),
        JsonObject o => new Object(o.Select(p => (Escape(p.Key), From(p.Value))).ToImmutableList()),
        JsonArray a => new Array(a.Select(From).ToImmutableList()),
        JsonValue v when v.TryGetValue<string>(out var s) => String(s),
        _ => new Raw(node.ToJsonString()),
    };
}

/// <summary>One change to a body: where (a path of child choices), what kind, and with what.</summary>
internal sealed record Mutation(int[] Path, int Kind, JsonTree Value, string Key)
{
    private const int Replace = 0, Remove = 1, Duplicate = 2, AddKey = 3, Nest = 4;

    public JsonTree ApplyTo(JsonTree root) => Apply(root, 0, isRoot: true);

    private JsonTree Apply(JsonTree node, int depth, bool isRoot)
    {
        var count = node switch
        {
            JsonTree.Object o => o.Members.Count,
            JsonTree.Array a => a.Items.Count,
            _ => 0,
        };
        var objectKinds = Kind is Remove or Duplicate or AddKey;
        // The root itself is never replaced or nested: the property is about fields, and a body that is not an object
        // is refused as a whole, naming no field, by design.
        var descend = count > 0 && (isRoot && !objectKinds || (depth < Path.Length && Path[depth] % (count + 1) != count));
        if (descend)
        {
            var index = (depth < Path.Length ? Path[depth] : 0) % count;
            return node switch
            {
                JsonTree.Object o => new JsonTree.Object(o.Members.SetItem(index, (o.Members[index].Key, Apply(o.Members[index].Value, depth + 1, false)))),
                JsonTree.Array a => new JsonTree.Array(a.Items.SetItem(index, Apply(a.Items[index], depth + 1, false))),
                _ => node,
            };
        }

        var pick = Path.Length > 0 ? Path[^1] : 0;
        if (isRoot && !objectKinds)
        {
            return node;
        }

        return (Kind, node) switch
        {
            (Remove, JsonTree.Object o) when o.Members.Count > 0 => new JsonTree.Object(o.Members.RemoveAt(pick % o.Members.Count)),
            (Duplicate, JsonTree.Object o) when o.Members.Count > 0 => new JsonTree.Object(o.Members.Add((o.Members[pick % o.Members.Count].Key, Value))),
            (AddKey, JsonTree.Object o) => new JsonTree.Object(o.Members.Insert(pick % (o.Members.Count + 1), (Key, Value))),
            (Nest, _) => Enumerable.Range(0, 1 + (pick % 20)).Aggregate(node, (inner, i) => i % 2 == 0
                ? new JsonTree.Array([inner])
                : new JsonTree.Object([("v", inner)])),
            _ when isRoot => node,
            _ => Value,
        };
    }
}

/// <summary>CsCheck generators of hostile JSON values and of valid bodies mutated field by field.</summary>
internal static class JsonMutations
{
    private static readonly string[] Interesting =
    [
        "", " ", "\t\n", "kling-v3", "std", "pro", "4k", "8k", "16:9", "9:16", "1:1", "customize", "intelligence",
        "https://example.com/a.jpg", "http://127.0.0.1/x.png", "ftp://example.com/a", "javascript:alert(1)",
        "https://user:pass@example.com/", "data:image/png;base64,", "data:image/png;base64,aGVsbG8gd29ybGQ=",
        "data:image/svg+xml;base64,PHN2Zz4=", "data:image/png;base64,iVBORw0KGgo=", "data:text/plain,hi",
        "task.completed", "task.failed", "task.*", "@dog", "dog", "\0", "\u001f", "\u007f", "\u2028\u2029",
        "\ud800", "\udfff", "a\ud800b", "\udc00\ud800", "\ud83d\ude00", "\ufeff", "\ufffd", "é", "中文",
        new string('x', 2600), new string('é', 600), "6", "-1", "true", "null", "{}", "[]",
    ];

    private static readonly string[] Numbers =
    [
        "0", "-0", "1", "3", "5", "6", "15", "16", "-1", "1.5", "3.0", "1e1", "1E400", "-1e400", "2147483647",
        "2147483648", "-2147483649", "99999999999999999999999999999999", "0.0000001", "5e-324", "1.7976931348623157e308",
    ];

    /// <summary>A string: an interesting one, one char of any code unit inside text, or random text.</summary>
    public static readonly Gen<JsonTree> Strings = Gen.Frequency(
        (4, Gen.OneOf(Interesting.Select(s => Gen.Const(JsonTree.String(s))).ToArray())),
        (3, Gen.Select(Gen.Char, Gen.Int[0, 3], (c, where) => JsonTree.String(where switch
        {
            0 => c.ToString(),
            1 => "a" + c,
            2 => c + "b",
            _ => "a" + c + "b",
        }))),
        (2, Gen.Char[(char)0, (char)0xFFFF].Array[0, 12].Select(chars => JsonTree.String(new string(chars)))),
        (1, Gen.String.Select(JsonTree.String)));

    private static readonly Gen<JsonTree> Scalars = Gen.Frequency(
        (5, Strings),
        (3, Gen.OneOf(Numbers.Select(n => Gen.Const<JsonTree>(new JsonTree.Raw(n))).ToArray())),
        (1, Gen.Int.Select(i => (JsonTree)new JsonTree.Raw(i.ToString(CultureInfo.InvariantCulture)))),
        (1, Gen.Double.Select(d => (JsonTree)new JsonTree.Raw(double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "0"))),
        (2, Gen.OneOf(Gen.Const<JsonTree>(new JsonTree.Raw("true")), Gen.Const<JsonTree>(new JsonTree.Raw("false")),
            Gen.Const<JsonTree>(new JsonTree.Raw("null")))));

    /// <summary>Any JSON value, nested up to <paramref name="depth"/> levels.</summary>
    public static Gen<JsonTree> Values(int depth) => depth <= 0
        ? Scalars
        : Gen.Frequency(
            (6, Scalars),
            (1, Values(depth - 1).Array[0, 4].Select(items => (JsonTree)new JsonTree.Array([.. items]))),
            (1, Gen.Select(Keys, Values(depth - 1)).Array[0, 4].Select(members => (JsonTree)new JsonTree.Object([.. members]))));

    /// <summary>Keys: the contract's own names (so duplicates and swaps hit real fields), or hostile ones.</summary>
    public static readonly Gen<string> Keys = Gen.Frequency(
        (3, Gen.OneOf(new[]
        {
            "model", "prompt", "negative_prompt", "mode", "duration", "aspect_ratio", "image_urls", "last_frame_image",
            "watermark", "audio", "multi_shot", "shot_type", "multi_prompt", "elements", "kling_elements", "callback_url",
            "index", "name", "description", "element_input_urls", "url", "events",
        }.Select(Gen.Const).ToArray())),
        (1, Strings.Select(s => ((JsonTree.Raw)s).Text[1..^1])));

    public static readonly Gen<Mutation> Mutations = Gen.Select(
        Gen.Int[0, 1000].Array[0, 5], Gen.Int[0, 4], Values(2), Keys,
        (path, kind, value, key) => new Mutation(path, kind, value, key));

    /// <summary>One of <paramref name="bases"/> with 1 to 4 mutations applied, as the body's text.</summary>
    public static Gen<string> Bodies(params string[] bases) =>
        Gen.Select(Gen.Int[0, bases.Length - 1], Mutations.Array[1, 4], (which, mutations) =>
            mutations.Aggregate(JsonTree.From(JsonNode.Parse(bases[which])), (body, mutation) => mutation.ApplyTo(body)).ToString());

    /// <summary>Iterations per property: <c>KINEMA_PROPERTY_ITERATIONS</c> for longer runs, else the default.</summary>
    public static long Iterations(long fallback) =>
        long.TryParse(Environment.GetEnvironmentVariable("KINEMA_PROPERTY_ITERATIONS"), out var configured) && configured > 0
            ? configured
            : fallback;
}
