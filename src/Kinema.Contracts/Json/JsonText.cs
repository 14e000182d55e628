using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Kinema.Contracts.Json;

/// <summary>
/// Reading JSON strings that may not be valid Unicode. JSON lets a string escape a lone UTF-16 surrogate
/// (<c>"a\ud800b"</c>); <see cref="JsonElement.GetString"/> then throws <see cref="InvalidOperationException"/>, which
/// anywhere near a request or an upstream answer turns bad input into a 500. Every reader of foreign JSON goes
/// through here instead.
/// </summary>
public static class JsonText
{
    /// <summary>The text of a JSON string, or false when it holds an unpaired surrogate (or is not a string).</summary>
    public static bool TryGetString(JsonElement element, out string value)
    {
        value = "";
        if (element.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        try
        {
            value = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            // The only failure left once the kind is String: the unescaped text is not valid UTF-16.
            return false;
        }
    }

    /// <summary>
    /// The text of a JSON string for messages and logs: a string with an unpaired surrogate comes back as its escaped
    /// JSON form rather than throwing; anything but a string is null.
    /// </summary>
    public static string? StringOrEscaped(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        return TryGetString(element, out var value) ? value : element.GetRawText()[1..^1];
    }

    /// <summary>
    /// The path of the first property whose name holds an unpaired surrogate, or null. Looking up any property of such
    /// an object (<see cref="JsonElement.TryGetProperty(string, out JsonElement)"/>) unescapes every name it passes and
    /// throws, so a body is checked with this before it is read. The path shows the bad name in its escaped form.
    /// </summary>
    public static string? FindMalformedPropertyName(JsonElement element, string path = "")
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        var raw = Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8PropertyName(property));
                        return path.Length == 0 ? raw : $"{path}.{raw}";
                    }

                    if (FindMalformedPropertyName(property.Value, path.Length == 0 ? name : $"{path}.{name}") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FindMalformedPropertyName(item, $"{path}[{index++}]") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    /// <summary>The message for a property name holding an unpaired surrogate.</summary>
    public static string MalformedPropertyNameMessage(string path) =>
        $"the property name {path} must be valid Unicode text: it holds an unpaired UTF-16 surrogate";

    /// <summary>True when <paramref name="text"/> is well-formed UTF-16: every surrogate is paired.</summary>
    public static bool IsWellFormed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (!char.IsSurrogate(c))
            {
                continue;
            }

            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            return false;
        }

        return true;
    }

    /// <summary>
    /// The message for a JSON string that <see cref="TryGetString"/> refused: its raw bytes are not UTF-8 (a body sent in
    /// Latin-1, say), or it escapes an unpaired surrogate.
    /// </summary>
    public static string InvalidTextMessage(string param, JsonElement element) =>
        element.ValueKind == JsonValueKind.String && !Utf8.IsValid(JsonMarshal.GetRawUtf8Value(element))
            ? $"{param} must be valid Unicode text: its bytes are not UTF-8 (send the body as UTF-8)"
            : UnpairedSurrogateMessage(param);

    /// <summary>
    /// The message for a field that must be a JSON string and is not a readable one: what <see cref="InvalidTextMessage"/>
    /// says for a string it refused, otherwise which JSON kind was sent instead.
    /// </summary>
    public static string NotTextMessage(string param, JsonElement element) =>
        element.ValueKind == JsonValueKind.String
            ? InvalidTextMessage(param, element)
            : $"{param} must be a JSON string, not {KindName(element)}";

    /// <summary>The JSON kind of a value as a message names it: "a number", "an array", "null" …</summary>
    public static string KindName(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    /// <summary>The message for a field whose string holds an unpaired surrogate.</summary>
    public static string UnpairedSurrogateMessage(string param) =>
        $"{param} must be valid Unicode text: it holds an unpaired UTF-16 surrogate (a \\ud800–\\udfff escape without its pair)";
}
