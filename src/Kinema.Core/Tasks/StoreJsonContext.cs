using System.Text.Json.Serialization;
using Kinema.Contracts.Requests;

namespace Kinema.Core.Tasks;

/// <summary>How the store keeps requests and results as JSON columns.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(GenerationRequest))]
[JsonSerializable(typeof(StoredResult))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
