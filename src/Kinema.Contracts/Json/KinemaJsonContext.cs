using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Kinema.Contracts.Responses;

namespace Kinema.Contracts.Json;

/// <summary>Source-generated JSON for every wire type: snake_case, nulls omitted.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CreateTaskResponse))]
[JsonSerializable(typeof(TaskResponse))]
[JsonSerializable(typeof(CancelTaskResponse))]
[JsonSerializable(typeof(DeleteTaskResponse))]
[JsonSerializable(typeof(TaskStatusData))]
[JsonSerializable(typeof(TaskListResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ModelListResponse))]
[JsonSerializable(typeof(ModelInfo))]
[JsonSerializable(typeof(ModelSchemaResponse))]
[JsonSerializable(typeof(UploadResponse))]
[JsonSerializable(typeof(BalanceResponse))]
[JsonSerializable(typeof(UsageResponse))]
public sealed partial class KinemaJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context the server writes with: like <see cref="JsonSerializerContext"/>'s default, but messages keep their
    /// quotes and angle brackets readable (<c>'</c> rather than <c>\u0027</c>). Bodies are JSON, never HTML.
    /// </summary>
    public static KinemaJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
