using System.Text.Json.Serialization;

namespace Kinema.Server;

/// <summary>Source-generated JSON for the server's own small bodies.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;
