using System.Text.Json;
using Kinema.Contracts.Requests;
namespace Kinema.Contracts.Rules;
public static partial class GenerationRequestRules
{
    /// <summary>TEMPORARY until the rules branch lands.</summary>
    public static ParsedRequest Parse(JsonElement body, GenerationRuleOptions options)
    {
        if (body.ValueKind != JsonValueKind.Object) return new ParsedRequest(null, [new RuleViolation("", "the request body must be a JSON object")]);
        var prompt = body.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        var duration = body.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : 5;
        var mode = body.TryGetProperty("mode", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "std";
        var audio = body.TryGetProperty("audio", out var a) && a.ValueKind == JsonValueKind.True;
        return new ParsedRequest(new GenerationRequest { Model = "kling-v3", Prompt = prompt, Duration = duration, Mode = mode, Audio = audio }, []);
    }
}
public static partial class GenerationRequestRules
{
    /// <summary>TEMPORARY.</summary>
    public static IReadOnlyList<RuleViolation> Validate(GenerationRequest request, GenerationRuleOptions options) => [];
    /// <summary>TEMPORARY.</summary>
    public static string ToJson(GenerationRequest request) => System.Text.Json.JsonSerializer.Serialize(new { model = request.Model, prompt = request.Prompt, duration = request.Duration, mode = request.Mode });
}
