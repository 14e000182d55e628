using System.Text.Json.Serialization;

namespace Kinema.Cli.Commands;

/// <summary>Source-generated JSON for the CLI's own small outputs.</summary>
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(AddBody))]
[JsonSerializable(typeof(KeyView))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class CliJsonContext : JsonSerializerContext;
