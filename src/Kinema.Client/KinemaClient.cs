using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;

namespace Kinema.Client;

/// <summary>
/// A client of the Kling v3 video-generation API, as Kinema serves it (and any service speaking the same contract).
/// Create a task, wait for it with progress, download the video.
/// </summary>
public class KinemaClient : IDisposable
{

    private readonly HttpClient _http = null!;
    private readonly KinemaClientOptions _options = null!;
    private readonly bool _ownsHttpClient;

    /// <summary>For mocking.</summary>
    protected KinemaClient()
    {
    }

    /// <summary>A client with its own connection pool and the standard retry policy.</summary>
    public KinemaClient(KinemaClientOptions options)
        : this(new HttpClient(KinemaResilience.CreateHandler(options), disposeHandler: true), options)
    {
        _ownsHttpClient = true;
    }

    /// <summary>A client over an <see cref="HttpClient"/> from <c>IHttpClientFactory</c> (see <c>AddKinemaClient</c>).</summary>
    public KinemaClient(HttpClient httpClient, KinemaClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            throw new ArgumentException("KinemaClientOptions.ApiKey is required", nameof(options));
        }

        if (options.Language is { } language && !MessageLanguages.IsKnown(language))
        {
            throw new ArgumentException(
                $"KinemaClientOptions.Language must be one of {string.Join(", ", MessageLanguages.All)}, or null for the server's default; it is '{language}'",
                nameof(options));
        }

        _http = httpClient;
        _options = options;
        _http.BaseAddress ??= options.BaseAddress;
        // Each attempt has its own time limit in the retry pipeline; the whole call is bounded by the caller's token.
        _http.Timeout = Timeout.InfiniteTimeSpan;
    }

    /// <summary>Submits a task; the server answers at once with its id.</summary>
    /// <param name="request">The request; checked against the contract's rules before sending.</param>
    /// <param name="idempotencyKey">Makes a retried create safe: the same key returns the first task. Required for automatic retries of a create.</param>
    /// <param name="cancellationToken">Stops the call.</param>
    /// <exception cref="KinemaException">The request breaks a rule (status 400, <see cref="KinemaException.Param"/> names the field), or the server refused it.</exception>
    public virtual async Task<GenerationOperation> CreateAsync(
        GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_options.ValidateRequests)
        {
            var violations = GenerationRequestRules.Validate(request, GenerationRuleOptions.Default with { AllowPrivateNetworks = true });
            if (violations.Count > 0)
            {
                throw new KinemaException(400, ErrorTypes.InvalidRequest, violations[0].Message, violations[0].Param, null,
                    violations.Select(v => new KeyValuePair<string?, string>(v.Param, v.Message)).ToList());
            }
        }

        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/videos/generations")
        {
            Content = new StringContent(GenerationRequestRules.ToJson(request), Encoding.UTF8, "application/json"),
        };
        if (idempotencyKey is not null)
        {
            message.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        var response = await SendAsync(message, KinemaJsonContext.Wire.CreateTaskResponse, cancellationToken);
        var submitted = response.Data.Count > 0
            ? response.Data[0]
            : throw new KinemaException(502, ErrorTypes.BadGateway, "the server accepted the task but returned no task id");
        return new GenerationOperation(this, submitted.TaskId);
    }

    private string LanguageQuery => _options.Language is { } language ? "?language=" + language.ToLowerInvariant() : "";

    /// <summary>The task's current state.</summary>
    public virtual async Task<TaskStatusData> GetAsync(string taskId, CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, $"v1/tasks/{Uri.EscapeDataString(taskId)}{LanguageQuery}");
        return (await SendAsync(message, KinemaJsonContext.Wire.TaskResponse, cancellationToken)).Data;
    }

    /// <summary>Cancels a task that has not ended.</summary>
    /// <exception cref="KinemaException">Status 409 when the task already ended.</exception>
    public virtual async Task<TaskStatusData> CancelAsync(string taskId, CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, $"v1/tasks/{Uri.EscapeDataString(taskId)}/cancel");
        return (await SendAsync(message, KinemaJsonContext.Wire.TaskResponse, cancellationToken)).Data;
    }

    /// <summary>
    /// Deletes a task and its result files for good; one that has not ended is cancelled first. A task that does not
    /// exist (or was already deleted) throws <see cref="KinemaException"/> with status 404.
    /// </summary>
    public virtual async Task DeleteAsync(string taskId, CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Delete, $"v1/tasks/{Uri.EscapeDataString(taskId)}");
        await SendAsync(message, KinemaJsonContext.Wire.DeleteTaskResponse, cancellationToken);
    }

    /// <summary>Every task of this key's tenant matching the filter, newest first, fetched a page at a time.</summary>
    public virtual async IAsyncEnumerable<TaskStatusData> ListAsync(
        TaskListFilter? filter = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        filter ??= new TaskListFilter();
        string? cursor = null;
        do
        {
            var query = new List<string> { $"limit={filter.PageSize}" };
            if (filter.Status is { } status)
            {
                query.Add($"status={Uri.EscapeDataString(status)}");
            }

            if (filter.Model is { } model)
            {
                query.Add($"model={Uri.EscapeDataString(model)}");
            }

            if (filter.CreatedAfter is { } createdAfter)
            {
                query.Add($"created_after={createdAfter.ToUnixTimeSeconds()}");
            }

            if (cursor is not null)
            {
                query.Add($"after={Uri.EscapeDataString(cursor)}");
            }

            using var message = new HttpRequestMessage(HttpMethod.Get, "v1/tasks?" + string.Join('&', query));
            var page = await SendAsync(message, KinemaJsonContext.Wire.TaskListResponse, cancellationToken);
            foreach (var task in page.Data)
            {
                yield return task;
            }

            cursor = page.HasMore ? page.NextCursor : null;
        }
        while (cursor is not null);
    }

    /// <summary>
    /// The task's states as they change, ending with its terminal state: over the server's event stream, reconnecting
    /// with <c>Last-Event-ID</c> when it drops, or by polling when the server has no stream.
    /// </summary>
    /// <exception cref="KinemaException">Status 404: the task does not exist, or was deleted while it was watched.</exception>
    public virtual async IAsyncEnumerable<TaskStatusData> WatchAsync(
        string taskId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? lastEventId = null;
        var streamAvailable = _options.UseEventStream;
        var reconnects = 0;
        while (streamAvailable)
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, $"v1/tasks/{Uri.EscapeDataString(taskId)}/events{LanguageQuery}");
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
            if (lastEventId is not null)
            {
                message.Headers.Add("Last-Event-ID", lastEventId);
            }

            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            }
            catch (HttpRequestException) when (reconnects++ < 3)
            {
                await Task.Delay(_options.PollInterval, cancellationToken);
                continue;
            }

            using (response)
            {
                if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotAcceptable
                    || response.Content.Headers.ContentType?.MediaType != "text/event-stream")
                {
                    // No stream here (another service speaking the contract, or an unknown task): polling tells which.
                    streamAvailable = false;
                    break;
                }

                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                var parser = SseParser.Create(stream, (type, data) => type is "task" or "deleted" ? Encoding.UTF8.GetString(data) : null);
                var enumerator = parser.EnumerateAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
                try
                {
                    while (true)
                    {
                        bool moved;
                        try
                        {
                            moved = await enumerator.MoveNextAsync();
                        }
                        catch (Exception exception) when (exception is IOException or HttpRequestException && reconnects++ < 5)
                        {
                            break;
                        }

                        if (!moved)
                        {
                            break;
                        }

                        var item = enumerator.Current;
                        if (item.Data is null)
                        {
                            continue;
                        }

                        if (item.EventType == "deleted")
                        {
                            throw new KinemaException(404, ErrorTypes.InvalidRequest,
                                $"task {taskId} was deleted while it was watched", "task_id");
                        }

                        lastEventId = item.EventId ?? lastEventId;
                        var task = JsonSerializer.Deserialize(item.Data, KinemaJsonContext.Wire.TaskStatusData)!;
                        yield return task;
                        if (IsTerminal(task.Status))
                        {
                            yield break;
                        }
                    }
                }
                finally
                {
                    await enumerator.DisposeAsync();
                }
            }
        }

        var interval = _options.PollInterval;
        while (true)
        {
            var task = await GetAsync(taskId, cancellationToken);
            yield return task;
            if (IsTerminal(task.Status))
            {
                yield break;
            }

            await Task.Delay(interval, cancellationToken);
            interval = TimeSpan.FromTicks(Math.Min(_options.MaxPollInterval.Ticks, (long)(interval.Ticks * 1.5)));
        }
    }

    /// <summary>Waits until the task ends; reports each state seen; returns the completed task.</summary>
    /// <exception cref="KinemaTaskFailedException">The task failed or was cancelled; it carries the reason.</exception>
    public virtual async Task<TaskStatusData> WaitForCompletionAsync(
        string taskId, IProgress<TaskStatusData>? progress = null, CancellationToken cancellationToken = default)
    {
        TaskStatusData? last = null;
        await foreach (var task in WatchAsync(taskId, cancellationToken))
        {
            last = task;
            progress?.Report(task);
        }

        return last is { Status: "completed" } ? last : throw new KinemaTaskFailedException(last!);
    }

    /// <summary>Downloads a completed task's video to a file, resuming with Range requests if the transfer is cut off.</summary>
    /// <returns>The full path written.</returns>
    public virtual async Task<string> DownloadAsync(TaskStatusData task, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        var url = task.Result?.Videos.FirstOrDefault()?.Url.FirstOrDefault()
                  ?? throw new KinemaException(409, ErrorTypes.InvalidRequest, $"task {task.Id} has no video (status {task.Status})");
        var fullPath = Path.GetFullPath(path);
        var partial = fullPath + ".part";
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        {
            await DownloadAsync(new Uri(url), file, cancellationToken);
        }

        File.Move(partial, fullPath, overwrite: true);
        return fullPath;
    }

    /// <summary>Streams a result URL into <paramref name="destination"/>, resuming from the bytes already written when cut off.</summary>
    public virtual async Task DownloadAsync(Uri url, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(destination);
        long written = 0;
        long? total = null;
        for (var attempt = 0; ; attempt++)
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, url);
            if (written > 0)
            {
                message.Headers.Range = new RangeHeaderValue(written, null);
            }

            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorFromAsync(response, cancellationToken);
            }

            if (written > 0 && response.StatusCode != HttpStatusCode.PartialContent)
            {
                throw new KinemaException((int)response.StatusCode, null, "the server cannot resume the download (no Range support)");
            }

            total ??= response.Content.Headers.ContentLength;
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    written += read;
                }

                if (total is null || written >= total)
                {
                    return;
                }
            }
            catch (Exception exception) when (exception is IOException or HttpRequestException && attempt < _options.MaxRetries)
            {
                // Cut off: ask for the rest.
            }

            if (attempt >= _options.MaxRetries)
            {
                throw new KinemaException(0, null, $"the download stopped at {written} of {total} bytes");
            }
        }
    }

    /// <summary>The models this server accepts (<c>GET /v1/models</c>), with the engines that serve each, in the order tried.</summary>
    public virtual async Task<IReadOnlyList<ModelInfo>> ListModelsAsync(CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        return (await SendAsync(message, KinemaJsonContext.Wire.ModelListResponse, cancellationToken)).Data;
    }

    /// <summary>
    /// Stores a picture on the server (<c>POST /v1/uploads/images</c>) and returns its signed link, which a create by the
    /// same tenant accepts in <c>image_urls</c> and element images for 72 hours: a short URL instead of a base64 body.
    /// </summary>
    /// <param name="content">A JPEG, PNG or WebP picture (a GIF is kept as a PNG of its first frame); read to the end.</param>
    /// <param name="fileName">The name the server records for it.</param>
    /// <param name="cancellationToken">Stops the call.</param>
    /// <exception cref="KinemaException">Status 400 when the bytes are not a picture Kinema accepts, 413 when too large.</exception>
    public virtual async Task<UploadResponse> UploadImageAsync(Stream content, string fileName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        // Buffered, so that a retried attempt sends the same bytes again.
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken);
        using var file = new ByteArrayContent(buffer.GetBuffer(), 0, (int)buffer.Length);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var form = new MultipartFormDataContent();
        form.Add(file, "file", fileName);
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/uploads/images") { Content = form };
        return await SendAsync(message, KinemaJsonContext.Wire.UploadResponse, cancellationToken);
    }

    /// <summary>Uploads a local picture file; see <see cref="UploadImageAsync(Stream, string, CancellationToken)"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public virtual async Task<UploadResponse> UploadImageAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        await using var file = File.OpenRead(path);
        return await UploadImageAsync(file, Path.GetFileName(path), cancellationToken);
    }

    /// <summary>The credits left to this key's tenant (<c>GET /v1/balance</c>).</summary>
    public virtual async Task<BalanceResponse> GetBalanceAsync(CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, "v1/balance");
        return await SendAsync(message, KinemaJsonContext.Wire.BalanceResponse, cancellationToken);
    }

    /// <summary>This tenant's ledger (<c>GET /v1/usage</c>): grants, charges and refunds, newest first, a page at a time.</summary>
    public virtual async IAsyncEnumerable<UsageEntry> ListUsageAsync(
        int pageSize = 50, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 100);
        string? cursor = null;
        do
        {
            var path = $"v1/usage?limit={pageSize}" + (cursor is null ? "" : $"&after={Uri.EscapeDataString(cursor)}");
            using var message = new HttpRequestMessage(HttpMethod.Get, path);
            var page = await SendAsync(message, KinemaJsonContext.Wire.UsageResponse, cancellationToken);
            foreach (var entry in page.Data)
            {
                yield return entry;
            }

            cursor = page.HasMore ? page.NextCursor : null;
        }
        while (cursor is not null);
    }

    private async Task<T> SendAsync<T>(HttpRequestMessage message, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken);
        }
        catch (HttpRequestException exception)
        {
            throw new KinemaException(0, null, $"cannot reach {_http.BaseAddress}: {exception.Message}", innerException: exception);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KinemaException(0, null, $"{_http.BaseAddress} did not answer in time", innerException: exception);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorFromAsync(response, cancellationToken);
            }

            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            try
            {
                return JsonSerializer.Deserialize(body, type)
                       ?? throw new KinemaException((int)response.StatusCode, ErrorTypes.BadGateway, "the server sent an empty body");
            }
            catch (JsonException exception)
            {
                throw new KinemaException((int)response.StatusCode, ErrorTypes.BadGateway,
                    "the server's answer is not the contract's JSON", innerException: exception);
            }
        }
    }

    private static async Task<KinemaException> ErrorFromAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var requestId = response.Headers.TryGetValues("x-request-id", out var ids) ? ids.FirstOrDefault() : null;
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            var envelope = JsonSerializer.Deserialize(body, KinemaJsonContext.Wire.ErrorResponse);
            if (envelope?.Error is { } error)
            {
                return new KinemaException(status, error.Type, error.Message, error.Param, requestId,
                    error.Errors?.Select(e => new KeyValuePair<string?, string>(e.Param, e.Message)).ToList());
            }
        }
        catch (JsonException)
        {
            // Not the envelope: fall through to a generic message.
        }

        return new KinemaException(status, ErrorTypes.ForStatus(status), $"HTTP {status} {response.ReasonPhrase}", null, requestId);
    }

    private static bool IsTerminal(string status) => status is "completed" or "failed" or "cancelled";

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the connection pool when this client made it.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing && _ownsHttpClient)
        {
            _http.Dispose();
        }
    }
}

/// <summary>Which tasks <see cref="KinemaClient.ListAsync"/> returns.</summary>
public sealed record TaskListFilter
{
    /// <summary>Only tasks in this status (<c>pending</c>, <c>processing</c>, <c>completed</c>, <c>failed</c>, <c>cancelled</c>).</summary>
    public string? Status { get; init; }
    /// <summary>Only tasks of this model.</summary>
    public string? Model { get; init; }
    /// <summary>Only tasks created after this instant.</summary>
    public DateTimeOffset? CreatedAfter { get; init; }
    /// <summary>Tasks fetched per request, 1–100.</summary>
    public int PageSize { get; init; } = 50;
}

/// <summary>A submitted task: its id, and a way to wait for it.</summary>
public sealed class GenerationOperation
{
    private readonly KinemaClient _client;

    internal GenerationOperation(KinemaClient client, string id)
    {
        _client = client;
        Id = id;
    }

    /// <summary>The task id.</summary>
    public string Id { get; }

    /// <summary>Waits until the task ends; see <see cref="KinemaClient.WaitForCompletionAsync"/>.</summary>
    public Task<TaskStatusData> WaitForCompletionAsync(IProgress<TaskStatusData>? progress = null, CancellationToken cancellationToken = default) =>
        _client.WaitForCompletionAsync(Id, progress, cancellationToken);
}
