using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Results;

/// <summary>
/// Turns a stored task into the contract's task object, with fresh result URLs: the storage's own direct links when it
/// gives them (an object store's presigned URLs), else Kinema's signed <c>/files</c> links.
/// </summary>
internal sealed class TaskStatusMapper(
    ResultUrlSigner signer, IResultStorage storage, IOptions<KinemaServerOptions> options, IOptions<Core.Billing.BillingOptions> billing)
{
    private readonly KinemaServerOptions _options = options.Value;
    private readonly bool _billing = billing.Value.Enabled;

    public TaskStatusData Map(TaskRecord task, HttpRequest request, MessageLanguage language = MessageLanguage.English) =>
        Map(task, BaseUrl(request), language);

    /// <summary>The task object with result links under <paramref name="baseUrl"/> (webhooks have no request to go by).</summary>
    public TaskStatusData Map(TaskRecord task, string baseUrl, MessageLanguage language = MessageLanguage.English)
    {
        var created = task.CreatedAt.ToUnixTimeSeconds();
        var completed = task.State == TaskState.Completed ? task.FinishedAt?.ToUnixTimeSeconds() : null;
        return new TaskStatusData
        {
            Id = task.Id,
            Status = task.State.ToWire(),
            Progress = task.State == TaskState.Completed ? 100 : task.Progress,
            Result = task.State == TaskState.Completed && task.Result is { } result ? MapResult(task.Id, result, baseUrl) : null,
            Created = created,
            Completed = completed,
            EstimatedTime = task.State.IsTerminal() ? null : EstimateSeconds(task.Engine, task.Request),
            ActualTime = completed is { } done ? (int)Math.Max(0, done - created) : null,
            Error = task.State == TaskState.Failed && task.Failure is { } failure ? new TaskError(failure.Code, TaskMessages.Failure(failure, language)) : null,
            Model = task.Model,
            Engine = task.Engine,
            Failover = task.EngineHistory,
            Updated = task.UpdatedAt.ToUnixTimeSeconds(),
            Cost = _billing ? task.Cost : null,
            Refunded = _billing ? task.Refunded : null,
        };
    }

    private TaskResult MapResult(string taskId, StoredResult result, string baseUrl)
    {
        var (video, expiresAt) = Link(taskId, result.VideoName, baseUrl);
        var poster = result.PosterName is { } posterName ? Link(taskId, posterName, baseUrl).Url : null;
        return new TaskResult([
            new TaskVideo
            {
                Url = [video],
                ExpiresAt = expiresAt,
                ThumbnailUrl = poster,
                Width = result.Width,
                Height = result.Height,
                Duration = Math.Round(result.DurationSeconds, 3),
                HasAudio = result.HasAudio,
            },
        ]);
    }

    private (string Url, long ExpiresAt) Link(string taskId, string name, string baseUrl)
    {
        if (storage.GetDirectLink(taskId, name, _options.ResultUrlLifetime) is { } direct)
        {
            return (direct.Url.AbsoluteUri, direct.ExpiresAt.ToUnixTimeSeconds());
        }

        var (pathAndQuery, expiresAt) = signer.Sign(taskId, name, _options.ResultUrlLifetime);
        return (baseUrl + pathAndQuery, expiresAt);
    }

    internal string BaseUrl(HttpRequest request) =>
        _options.PublicBaseUrl is { Length: > 0 } configured
            ? configured.TrimEnd('/')
            : $"{request.Scheme}://{request.Host}{request.PathBase}";

    /// <summary>A rough guess from the engine and the work asked for; the contract only promises an estimate.</summary>
    internal static int EstimateSeconds(string engine, GenerationRequest request)
    {
        if (!string.Equals(engine, "animatic", StringComparison.OrdinalIgnoreCase))
        {
            return request.Mode == GenerationModes.Standard ? 120 : 300;
        }

        var perSecond = request.Mode switch
        {
            GenerationModes.UltraHd => 1.2,
            GenerationModes.Professional => 0.5,
            _ => 0.3,
        };
        return (int)Math.Ceiling(2 + (request.Duration * perSecond));
    }
}
