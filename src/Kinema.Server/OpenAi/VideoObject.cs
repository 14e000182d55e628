using System.Globalization;
using System.Text.Json.Serialization;
using Kinema.Core.Tasks;

namespace Kinema.Server.OpenAi;

/// <summary>
/// OpenAI's Video object. Its nullable fields are written as <c>null</c>, not left out, as OpenAI writes them (the rest
/// of Kinema's wire leaves absent fields out).
/// </summary>
internal sealed record VideoObject
{
    public required string Id { get; init; }
    public string Object { get; init; } = "video";
    /// <summary><c>queued</c>, <c>in_progress</c>, <c>completed</c> or <c>failed</c>.</summary>
    public required string Status { get; init; }
    public int Progress { get; init; }
    public required string Model { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Prompt { get; init; }
    /// <summary>Whole seconds, as a string (OpenAI's type).</summary>
    public required string Seconds { get; init; }
    /// <summary><c>WxH</c>.</summary>
    public required string Size { get; init; }
    public long CreatedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public long? CompletedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public long? ExpiresAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public VideoError? Error { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? RemixedFromVideoId { get; init; }

    /// <summary>
    /// A task as a video. Any task of the tenant can be read this way (a video is a task like any other); the size comes
    /// from its mode and aspect ratio, and a cancelled task is a failed video with the code <c>cancelled</c>.
    /// </summary>
    public static VideoObject From(TaskRecord task) => new()
    {
        Id = task.Id,
        Status = task.State switch
        {
            TaskState.Pending => "queued",
            TaskState.Processing => "in_progress",
            TaskState.Completed => "completed",
            _ => "failed",
        },
        Progress = task.State == TaskState.Completed ? 100 : task.Progress,
        Model = task.Model,
        Prompt = task.Request.Prompt,
        Seconds = task.Request.Duration.ToString(CultureInfo.InvariantCulture),
        Size = VideoSizes.Of(task.Request),
        CreatedAt = task.CreatedAt.ToUnixTimeSeconds(),
        CompletedAt = task.State.IsTerminal() ? task.FinishedAt?.ToUnixTimeSeconds() : null,
        // Kinema keeps results until the video is deleted: its assets do not expire.
        ExpiresAt = null,
        Error = task.State switch
        {
            TaskState.Failed => new VideoError(task.Failure?.Code ?? "failed", task.Failure?.Message ?? "the video could not be made"),
            TaskState.Cancelled => new VideoError("cancelled", "the video was cancelled before it was made"),
            _ => null,
        },
        RemixedFromVideoId = task.Request.Facade?.RemixedFromVideoId,
    };
}

/// <summary>Why a video failed.</summary>
internal sealed record VideoError(string Code, string Message);

/// <summary>A page of videos; the SDK asks for the next with <c>after=last_id</c> while <c>has_more</c>.</summary>
internal sealed record VideoList(
    IReadOnlyList<VideoObject> Data,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FirstId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? LastId,
    bool HasMore)
{
    public string Object { get; init; } = "list";
}

/// <summary>The answer to a delete.</summary>
internal sealed record VideoDeleted(string Id, bool Deleted)
{
    public string Object { get; init; } = "video.deleted";
}

/// <summary>OpenAI's remix body, for the OpenAPI document (the handler reads it field by field).</summary>
internal sealed record VideoRemixRequest(string Prompt);

/// <summary>Source-generated JSON for the OpenAI façade's bodies.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(VideoObject))]
[JsonSerializable(typeof(VideoList))]
[JsonSerializable(typeof(VideoDeleted))]
[JsonSerializable(typeof(VideoRemixRequest))]
internal sealed partial class OpenAiJsonContext : JsonSerializerContext;
