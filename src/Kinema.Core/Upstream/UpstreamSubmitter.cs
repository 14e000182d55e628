using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;
using Kinema.Core.Diagnostics;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Upstream;

/// <summary>
/// Hands a claimed task to its upstream engine exactly once. The intent is written before the request is sent; if
/// Kinema dies before the answer is recorded, the next attempt finds the intent and asks the upstream (by Kinema's
/// task id, its external id) whether the task exists before sending anything. A 429, 5xx, timeout or refused account
/// moves the task to the next engine of its model; a refused request fails it.
/// </summary>
internal sealed partial class UpstreamSubmitter(
    ITaskStore tasks,
    IUpstreamTaskStore store,
    EngineRegistry engines,
    EngineRouter router,
    IImageSource images,
    CallbackUrls callbacks,
    UpstreamPollerSignal pollerSignal,
    IOptions<UpstreamOptions> options,
    TimeProvider time,
    KinemaMetrics metrics,
    ILogger<UpstreamSubmitter> logger,
    IOwnImageReader? ownImages = null)
{
    public async Task SubmitAsync(TaskRecord task, string workerId, CancellationToken cancellationToken)
    {
        using var activity = KinemaActivities.StartTaskActivity("upstream.submit", task.Id, task.Engine, System.Diagnostics.ActivityKind.Client);
        var candidates = router.EnginesFor(task.Model);
        var current = task.Engine;
        var history = task.EngineHistory ?? "";
        var recovering = task.SubmitIntentEngine == current;
        GenerationRequest request;
        try
        {
            request = await InlineUnreachableUploadsAsync(task.Request, cancellationToken);
        }
        catch (EngineFailureException failure)
        {
            await FailAsync(task, current, workerId, new TaskFailure(failure.Code, failure.Message));
            return;
        }

        while (true)
        {
            if (engines.Find(current) is not IUpstreamEngine engine)
            {
                await FailAsync(task, current, workerId, new TaskFailure(
                    "engine_unavailable", $"the engine '{current}' is not configured on this server"));
                return;
            }

            var job = new UpstreamJob(task.Id, request, callbacks.For(engine.Name, task.Id), images);
            string failureReason;
            try
            {
                if (recovering && await engine.FindAsync(job, cancellationToken) is { } earlier)
                {
                    LogRecovered(logger, task.Id, engine.Name, earlier.UpstreamId);
                    await RecordAsync(task, workerId, earlier, cancellationToken);
                    return;
                }

                // The create checked the first engine only, and configuration may have changed since: an engine that
                // cannot honour a field of the request is passed over, never handed the task to drop that field.
                if (engine.Unsupported(request) is { Count: > 0 } unsupported)
                {
                    failureReason = $"{engine.Name}: skipped, it cannot honour {string.Join(", ", unsupported.Select(violation => violation.Param).Distinct())}";
                }
                else
                {
                    if (!await store.RecordIntentAsync(task.Id, workerId, engine.Name, engine.Account, cancellationToken))
                    {
                        return;
                    }

                    var handle = await SubmitWithRetriesAsync(engine, job, cancellationToken);
                    await RecordAsync(task, workerId, handle, cancellationToken);
                    return;
                }
            }
            catch (UpstreamException failure) when (!failure.AllowsFailover)
            {
                // The refusal may be the upstream saying Kinema's external id is taken: an earlier send got through after
                // its lookup missed (a retry after a timeout, or a node whose lease ran out while its request was on
                // the wire). That upstream task is this task's, so it is adopted rather than failed or sent again.
                if (failure.Kind == UpstreamErrorKind.RequestRefused && await TryFindAsync(engine, job, cancellationToken) is { } earlier)
                {
                    LogAdopted(logger, task.Id, engine.Name, failure.Code, earlier.UpstreamId);
                    await RecordAsync(task, workerId, earlier, cancellationToken);
                    return;
                }

                await FailAsync(task, current, workerId, new TaskFailure(failure.Code, failure.Message));
                return;
            }
            catch (UpstreamException failure)
            {
                // A timeout may hide a submission the upstream did accept: look before moving on.
                if (failure.Kind == UpstreamErrorKind.Transient && await TryFindAsync(engine, job, cancellationToken) is { } accepted)
                {
                    await RecordAsync(task, workerId, accepted, cancellationToken);
                    return;
                }

                failureReason = $"{engine.Name}: {failure.Code} ({failure.Message})";
                LogFailover(logger, task.Id, engine.Name, failure.Code);
            }

            history = history.Length == 0 ? failureReason : history + "; " + failureReason;
            var index = IndexOf(candidates, current);
            var next = index >= 0 && index + 1 < candidates.Count ? candidates[index + 1] : null;
            if (next is null)
            {
                await FailAsync(task, current, workerId, new TaskFailure(
                    "upstream_unavailable", $"no engine could take the task: {history}"));
                return;
            }

            if (!await store.RecordFailoverAsync(task.Id, workerId, next, history, cancellationToken))
            {
                return;
            }

            current = next;
            recovering = false;
        }
    }

    /// <summary>
    /// Kinema's own upload links usually point at an address no upstream can reach (this server on loopback or a private
    /// network): those images are handed over inline, as data URIs read from storage. A link on a public address
    /// (<c>Kinema:PublicBaseUrl</c>) is passed as it is, for the upstream to fetch.
    /// </summary>
    private async Task<GenerationRequest> InlineUnreachableUploadsAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        if (ownImages is null)
        {
            return request;
        }

        async Task<string> InlineAsync(string path, string url)
        {
            if (DataUriImage.IsDataUri(url) || AddressPolicy.CheckCallbackUrl(path, url, allowPrivateNetworks: false) is null)
            {
                return url;
            }

            // Capped when it was uploaded; a link that is not one of Kinema's own is left for the upstream to refuse.
            var bytes = await ownImages.TryReadAsync(path, url, long.MaxValue, cancellationToken);
            return bytes is null
                ? url
                : $"data:{ImageHeader.TryRead(bytes, out _)?.MediaType ?? "image/png"};base64,{Convert.ToBase64String(bytes)}";
        }

        var imageUrls = new List<string>();
        for (var i = 0; i < request.ImageUrls.Count; i++)
        {
            imageUrls.Add(await InlineAsync($"image_urls[{i}]", request.ImageUrls[i]));
        }

        var elements = new List<Element>();
        for (var i = 0; i < request.Elements.Count; i++)
        {
            var element = request.Elements[i];
            var urls = new List<string>();
            for (var j = 0; j < element.ElementInputUrls.Count; j++)
            {
                urls.Add(await InlineAsync($"elements[{i}].element_input_urls[{j}]", element.ElementInputUrls[j]));
            }

            elements.Add(element with { ElementInputUrls = urls });
        }

        return request with { ImageUrls = imageUrls, Elements = elements };
    }

    private async Task FailAsync(TaskRecord task, string engine, string workerId, TaskFailure failure)
    {
        System.Diagnostics.Activity.Current.Fail(failure.Code);
        if (await tasks.FailAsync(task.Id, workerId, failure, CancellationToken.None))
        {
            metrics.TaskFailed(engine, task.Model);
        }
    }

    private async Task<UpstreamHandle> SubmitWithRetriesAsync(IUpstreamEngine engine, UpstreamJob job, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await engine.SubmitAsync(job, cancellationToken);
            }
            catch (UpstreamException failure) when (failure.Kind == UpstreamErrorKind.Transient && attempt < options.Value.SubmitAttempts)
            {
                // Before trying again on the same engine, make sure the first attempt did not get through.
                if (await TryFindAsync(engine, job, cancellationToken) is { } accepted)
                {
                    return accepted;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), time, cancellationToken);
            }
        }
    }

    private static async Task<UpstreamHandle?> TryFindAsync(IUpstreamEngine engine, UpstreamJob job, CancellationToken cancellationToken)
    {
        try
        {
            return await engine.FindAsync(job, cancellationToken);
        }
        catch (UpstreamException)
        {
            return null;
        }
    }

    private async Task RecordAsync(TaskRecord task, string workerId, UpstreamHandle handle, CancellationToken cancellationToken)
    {
        var firstPoll = time.GetUtcNow() + options.Value.FirstPoll;
        if (await store.RecordSubmittedAsync(task.Id, workerId, handle, firstPoll, cancellationToken))
        {
            System.Diagnostics.Activity.Current?.SetTag("kinema.upstream_id", handle.UpstreamId);
            LogSubmitted(logger, task.Id, handle.Engine, handle.UpstreamId);
            pollerSignal.Wake();
            return;
        }

        // The lease went while the upstream was answering; if that was a cancel, stop the upstream task too.
        if ((await store.FindAsync(task.Id, cancellationToken))?.State == TaskState.Cancelled
            && engines.Find(handle.Engine) is IUpstreamEngine engine)
        {
            try
            {
                await engine.CancelAsync(handle, cancellationToken);
            }
            catch (UpstreamException)
            {
                // Best effort: the task is cancelled here either way.
            }
        }
    }

    private static int IndexOf(IReadOnlyList<string> candidates, string engine)
    {
        for (var i = 0; i < candidates.Count; i++)
        {
            if (string.Equals(candidates[i], engine, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} submitted to {Engine} as {UpstreamId}")]
    private static partial void LogSubmitted(ILogger logger, string taskId, string engine, string upstreamId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: found the earlier submission to {Engine} ({UpstreamId}) after a restart; not submitting again")]
    private static partial void LogRecovered(ILogger logger, string taskId, string engine, string upstreamId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: {Engine} refused a send ({Code}) but already holds the task as {UpstreamId} from an earlier send; adopting it, not submitting again")]
    private static partial void LogAdopted(ILogger logger, string taskId, string engine, string code, string upstreamId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: {Engine} refused it ({Code}); failing over")]
    private static partial void LogFailover(ILogger logger, string taskId, string engine, string code);
}

/// <summary>Wakes the poller when a poll became due early (new submission, callback).</summary>
public sealed class UpstreamPollerSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    /// <summary>Asks for a look at due polls now.</summary>
    public void Wake()
    {
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
    }

    /// <summary>Waits for a wake-up or the timeout.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);

    /// <inheritdoc />
    public void Dispose() => _signal.Dispose();
}
