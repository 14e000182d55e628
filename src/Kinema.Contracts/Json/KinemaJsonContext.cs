using System.Text.Json.Serialization;
using Kinema.Contracts.Responses;

namespace Kinema.Contracts.Json;

/// <summary>Source-generated JSON for every wire type: snake_case, nulls omitted.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CreateTaskResponse))]
[JsonSerializable(typeof(TaskResponse))]
[JsonSerializable(typeof(TaskStatusData))]
[JsonSerializable(typeof(ErrorResponse))]
public sealed partial class KinemaJsonContext : JsonSerializerContext;
