using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Kinema.Server.Auth;
using Kinema.Server.Endpoints;
using Kinema.Server.Errors;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.OpenAi;

/// <summary>
/// The OpenAI Videos API at <c>/v1/videos</c>: a second façade over the same tasks, so code written for the official
/// SDKs works against Kinema by changing the base URL and key. A video is a task (its id is the task id): it goes through
/// the contract's rule set and the same submission path, and shows in <c>/v1/tasks</c>, the CLI and the playground.
/// </summary>
internal static class VideoEndpoints
{
    public static RouteGroupBuilder MapOpenAiVideos(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/videos").WithTags("OpenAI Videos");
        group.MapPost("", CreateAsync).WithName("CreateVideo").WithSummary("OpenAI Videos: create a video (multipart or JSON)")
            .DisableAntiforgery();
        group.MapGet("", ListAsync).WithName("ListVideos").WithSummary("OpenAI Videos: list videos, newest first");
        group.MapGet("/{video_id}", RetrieveAsync).WithName("RetrieveVideo").WithSummary("OpenAI Videos: a video");
        group.MapDelete("/{video_id}", DeleteAsync).WithName("DeleteVideo").WithSummary("OpenAI Videos: delete a video and its files");
        group.MapGet("/{video_id}/content", ContentAsync).WithName("DownloadVideoContent")
            .WithSummary("OpenAI Videos: the video (MP4), its thumbnail or its spritesheet (JPEG)");
        group.MapPost("/{video_id}/remix", RemixAsync).WithName("RemixVideo")
            .WithSummary("OpenAI Videos: a new video with the same settings and inputs and a new prompt")
            .Accepts<VideoRemixRequest>("application/json", "multipart/form-data").DisableAntiforgery();
        return group;
    }

    internal static async Task<Results<JsonHttpResult<VideoObject>, JsonHttpResult<ErrorResponse>>> CreateAsync(
        HttpContext http, GenerationSubmitter submitter, CancellationToken cancellationToken)
    {
        var (form, readError) = await VideoCreateForm.ReadAsync(http.Request, cancellationToken);
        if (readError is not null)
        {
            return readError;
        }

        var (request, violations) = await form!.ToRequestAsync(submitter.RuleOptions, cancellationToken);
        if (request is null)
        {
            return ApiErrors.FromViolations(violations);
        }

        return await SubmitAsync(http, submitter, request, cancellationToken);
    }

    internal static async Task<Results<JsonHttpResult<VideoObject>, JsonHttpResult<ErrorResponse>>> RetrieveAsync(
        string video_id, HttpContext http, ITaskStore store, CancellationToken cancellationToken)
    {
        if (NotTheCreateRoute(video_id, http) is { } notAllowed)
        {
            return notAllowed;
        }

        return await FindAsync(video_id, http, store, cancellationToken) is { } task
            ? Json(VideoObject.From(task))
            : VideoNotFound(video_id);
    }

    internal static async Task<Results<JsonHttpResult<VideoList>, JsonHttpResult<ErrorResponse>>> ListAsync(
        string? after, string? limit, string? order, HttpContext http, ITaskStore store, CancellationToken cancellationToken)
    {
        if (PageLimit.TryRead(limit, out var size) is { } badLimit)
        {
            return badLimit;
        }

        if (order is not (null or "asc" or "desc"))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "order must be asc or desc", "order");
        }

        if (after is not null && !TaskIds.IsWellFormed(after))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "after must be a video id (the last_id of an earlier page)", "after");
        }

        var page = await store.ListAsync(TenantContext.Get(http).TenantId,
            new TaskQuery(size, after, Ascending: order == "asc"), cancellationToken);
        var videos = page.Tasks.Select(VideoObject.From).ToList();
        return TypedResults.Json(new VideoList(videos, videos.FirstOrDefault()?.Id, videos.LastOrDefault()?.Id, page.HasMore),
            OpenAiJsonContext.Default.VideoList);
    }

    internal static async Task<Results<JsonHttpResult<VideoDeleted>, JsonHttpResult<ErrorResponse>>> DeleteAsync(
        string video_id, HttpContext http, TaskDeleter deleter, CancellationToken cancellationToken)
    {
        if (NotTheCreateRoute(video_id, http) is { } notAllowed)
        {
            return notAllowed;
        }

        return await deleter.DeleteAsync(TenantContext.Get(http).TenantId, video_id, cancellationToken)
            ? TypedResults.Json(new VideoDeleted(video_id, Deleted: true), OpenAiJsonContext.Default.VideoDeleted)
            : VideoNotFound(video_id);
    }

    internal static async Task<IResult> ContentAsync(
        string video_id, string? variant, HttpContext http, ITaskStore store, IResultStorage storage, VideoImages images,
        CancellationToken cancellationToken)
    {
        if (variant is not (null or "video" or "thumbnail" or "spritesheet"))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "variant must be one of video, thumbnail, spritesheet", "variant");
        }

        if (await FindAsync(video_id, http, store, cancellationToken) is not { } task)
        {
            return VideoNotFound(video_id);
        }

        if (task.State != TaskState.Completed || task.Result is not { } result)
        {
            var status = VideoObject.From(task).Status;
            return ApiErrors.Create(StatusCodes.Status409Conflict, status == "failed"
                ? $"video {task.Id} failed and has no content"
                : $"video {task.Id} is {status}; its content can be downloaded once it is completed", "video_id");
        }

        var file = variant switch
        {
            "thumbnail" => await images.ThumbnailAsync(task, result, cancellationToken),
            "spritesheet" => await images.SpritesheetAsync(task, result, cancellationToken),
            _ => await storage.FindAsync(task.Id, result.VideoName, cancellationToken),
        };
        if (file is null)
        {
            return ApiErrors.Create(StatusCodes.Status404NotFound, $"the files of video {task.Id} no longer exist", "video_id");
        }

        return new StoredFileResult(file, storage);
    }

    internal static async Task<Results<JsonHttpResult<VideoObject>, JsonHttpResult<ErrorResponse>>> RemixAsync(
        string video_id, HttpContext http, ITaskStore store, GenerationSubmitter submitter, CancellationToken cancellationToken)
    {
        var (form, readError) = await VideoCreateForm.ReadAsync(http.Request, cancellationToken);
        if (readError is not null)
        {
            return readError;
        }

        if (await FindAsync(video_id, http, store, cancellationToken) is not { } source)
        {
            return VideoNotFound(video_id);
        }

        if (form!.ReadProblem is { } problem)
        {
            return ApiErrors.FromViolations([problem]);
        }

        if (form.Prompt is null)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "prompt is required", "prompt");
        }

        // The same settings and inputs (images included); a callback_url belonged to the original request only.
        var request = source.Request with
        {
            Prompt = form.Prompt,
            CallbackUrl = null,
            Facade = new FacadeOrigin(FacadeOrigin.OpenAiVideos, RemixedFromVideoId: source.Id),
        };
        var broken = GenerationRequestRules.Validate(request, submitter.RuleOptions);
        if (broken.Count > 0)
        {
            return ApiErrors.FromViolations(broken.Select(VideoCreateForm.ToOpenAiField).ToList());
        }

        return await SubmitAsync(http, submitter, request, cancellationToken);
    }

    private static async Task<Results<JsonHttpResult<VideoObject>, JsonHttpResult<ErrorResponse>>> SubmitAsync(
        HttpContext http, GenerationSubmitter submitter, GenerationRequest request, CancellationToken cancellationToken)
    {
        var submission = await submitter.SubmitAsync(http, TenantContext.Get(http).TenantId, request, cancellationToken);
        return submission.Error is { } error ? error : Json(VideoObject.From(submission.Task!));
    }

    private static async Task<TaskRecord?> FindAsync(string videoId, HttpContext http, ITaskStore store, CancellationToken cancellationToken) =>
        TaskIds.IsWellFormed(videoId) ? await store.GetAsync(TenantContext.Get(http).TenantId, videoId, cancellationToken) : null;

    private static JsonHttpResult<VideoObject> Json(VideoObject video) =>
        TypedResults.Json(video, OpenAiJsonContext.Default.VideoObject);

    /// <summary>
    /// <c>/v1/videos/generations</c> is the contract's create route (POST only); OpenAI's <c>/v1/videos/{video_id}</c> would
    /// otherwise take a GET or DELETE of it and answer that no video "generations" exists.
    /// </summary>
    private static JsonHttpResult<ErrorResponse>? NotTheCreateRoute(string videoId, HttpContext http)
    {
        if (videoId != "generations")
        {
            return null;
        }

        http.Response.Headers.Allow = HttpMethods.Post;
        return ApiErrors.Create(StatusCodes.Status405MethodNotAllowed, $"{http.Request.Method} is not allowed on {http.Request.Path}");
    }

    private static JsonHttpResult<ErrorResponse> VideoNotFound(string videoId) =>
        ApiErrors.Create(StatusCodes.Status404NotFound,
            $"no video with id '{(videoId.Length > 64 ? videoId[..64] + "…" : videoId)}' exists for this API key", "video_id");
}
