using System.Text.Json.Serialization;

namespace Kinema.Engines.Kling;

/// <summary>Source-generated JSON for the little the engine serialises by type.</summary>
[JsonSerializable(typeof(string))]
internal sealed partial class KlingJsonContext : JsonSerializerContext;
