using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Kinema.Engines.ComfyUI;

/// <summary>
/// A ComfyUI workflow in its API format (node id → <c>{class_type, inputs}</c>) with Kinema's placeholders in it. A
/// string that is exactly <c>"{{width}}"</c> becomes the typed value (a number here); a placeholder inside a longer
/// string, such as <c>"kinema/{{task_id}}"</c>, is replaced as text. Any model's graph works this way: Kinema never
/// needs to know its node types.
/// </summary>
internal sealed partial class ComfyUiWorkflow
{
    /// <summary>The placeholders Kinema fills in.</summary>
    public static readonly IReadOnlyList<string> Placeholders =
        ["prompt", "negative_prompt", "width", "height", "frames", "fps", "duration", "seed", "first_frame", "last_frame", "task_id"];

    private const long MaxFileBytes = 4 * 1024 * 1024;
    private readonly JsonObject _graph;

    private ComfyUiWorkflow(JsonObject graph, IReadOnlySet<string> uses)
    {
        _graph = graph;
        Uses = uses;
    }

    /// <summary>The placeholders this workflow contains.</summary>
    public IReadOnlySet<string> Uses { get; }

    /// <summary>Reads and checks a workflow file.</summary>
    /// <exception cref="InvalidOperationException">The file is missing or not a workflow Kinema can fill.</exception>
    public static ComfyUiWorkflow Load(string path, bool imageToVideo)
    {
        var (workflow, problem) = TryLoad(path, imageToVideo);
        return workflow ?? throw new InvalidOperationException($"{path}: {problem}");
    }

    /// <summary>Why the file is not a usable workflow, or null when it is.</summary>
    public static string? Check(string path, bool imageToVideo) => TryLoad(path, imageToVideo).Problem;

    /// <summary>A copy of the graph with every placeholder replaced.</summary>
    public JsonObject Fill(IReadOnlyDictionary<string, JsonValue> values)
    {
        var copy = (JsonObject)_graph.DeepClone();
        foreach (var (_, node) in copy)
        {
            Replace(node!["inputs"]!.AsObject(), values);
        }

        return copy;
    }

    private static void Replace(JsonNode container, IReadOnlyDictionary<string, JsonValue> values)
    {
        switch (container)
        {
            case JsonObject obj:
                foreach (var name in obj.Select(pair => pair.Key).ToList())
                {
                    if (Substitute(obj[name], values) is { } filled)
                    {
                        obj[name] = filled;
                    }
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (Substitute(array[i], values) is { } filled)
                    {
                        array[i] = filled;
                    }
                }

                break;
        }
    }

    /// <summary>The filled value for a string holding a placeholder; null when the node stays (containers are filled in place).</summary>
    private static JsonNode? Substitute(JsonNode? node, IReadOnlyDictionary<string, JsonValue> values)
    {
        if (node is JsonValue value && value.TryGetValue<string>(out var text) && text.Contains("{{", StringComparison.Ordinal))
        {
            var exact = PlaceholderPattern().Match(text);
            if (exact.Success && exact.Length == text.Length)
            {
                return values[exact.Groups[1].Value].DeepClone();
            }

            return JsonValue.Create(PlaceholderPattern().Replace(text, match => AsText(values[match.Groups[1].Value])));
        }

        if (node is JsonObject or JsonArray)
        {
            Replace(node, values);
        }

        return null;
    }

    private static string AsText(JsonValue value) =>
        value.GetValueKind() == JsonValueKind.String
            ? value.GetValue<string>()
            : value.ToJsonString();

    private static (ComfyUiWorkflow? Workflow, string? Problem) TryLoad(string path, bool imageToVideo)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return (null, $"no workflow file at '{file.FullName}'");
        }

        if (file.Length > MaxFileBytes)
        {
            return (null, $"the workflow file is larger than {MaxFileBytes / (1024 * 1024)} MB");
        }

        JsonObject graph;
        try
        {
            graph = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                    ?? throw new JsonException("the file is not a JSON object");
        }
        catch (JsonException exception)
        {
            return (null, $"not JSON in ComfyUI's API format: {exception.Message}");
        }

        if (graph.Count == 0)
        {
            return (null, "the workflow has no nodes");
        }

        foreach (var (id, node) in graph)
        {
            if (node is not JsonObject obj || obj["class_type"] is not JsonValue type || !type.TryGetValue<string>(out _) || obj["inputs"] is not JsonObject)
            {
                // The UI's own save format (nodes, links) is not what /prompt takes.
                return (null, $"node '{id}' has no class_type and inputs: export the workflow with \"Export (API)\", not \"Save\"");
            }
        }

        var uses = new SortedSet<string>(StringComparer.Ordinal);
        var unknown = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match match in PlaceholderPattern().Matches(graph.ToJsonString()))
        {
            (Placeholders.Contains(match.Groups[1].Value) ? uses : unknown).Add(match.Groups[1].Value);
        }

        if (unknown.Count > 0)
        {
            return (null, $"unknown placeholder(s) {string.Join(", ", unknown.Select(name => "{{" + name + "}}"))}; "
                          + $"Kinema fills {string.Join(", ", Placeholders.Select(name => "{{" + name + "}}"))}");
        }

        if (!uses.Contains("prompt"))
        {
            return (null, "the workflow has no \"{{prompt}}\" placeholder, so every task would render the same video");
        }

        if (imageToVideo && !uses.Contains("first_frame"))
        {
            return (null, "an image-to-video workflow needs a \"{{first_frame}}\" placeholder (the image input of a LoadImage node)");
        }

        return (new ComfyUiWorkflow(graph, uses), null);
    }

    /// <summary>The values of the placeholders for one task.</summary>
    public static Dictionary<string, JsonValue> Values(
        string taskId, string prompt, string? negativePrompt, int width, int height, int duration, int fps, long seed,
        string? firstFrame, string? lastFrame) =>
        new(StringComparer.Ordinal)
        {
            ["prompt"] = JsonValue.Create(prompt),
            ["negative_prompt"] = JsonValue.Create(negativePrompt ?? ""),
            ["width"] = JsonValue.Create(width),
            ["height"] = JsonValue.Create(height),
            ["frames"] = JsonValue.Create(duration * fps + 1),
            ["fps"] = JsonValue.Create(fps),
            ["duration"] = JsonValue.Create(duration),
            ["seed"] = JsonValue.Create(seed),
            ["first_frame"] = JsonValue.Create(firstFrame ?? ""),
            ["last_frame"] = JsonValue.Create(lastFrame ?? ""),
            ["task_id"] = JsonValue.Create(taskId),
        };

    [GeneratedRegex(@"\{\{([a-z_]+)\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex PlaceholderPattern();
}
