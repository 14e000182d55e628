using Kinema.Core.Storage;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.Headers;
using Microsoft.Net.Http.Headers;

namespace Kinema.Server.Results;

/// <summary>
/// Sends a stored file, asking the storage for just the bytes sent: a single <c>bytes</c> range is answered 206 with
/// <c>Content-Range</c>, an unsatisfiable one 416 (with the error envelope), anything else (another unit, several
/// ranges, a stale <c>If-Range</c>) the whole file; <c>If-None-Match</c> and <c>If-Modified-Since</c> give 304. A file on
/// this node's disk goes out through the kernel's sendfile; any other is streamed, buffering no more than the copy buffer.
/// </summary>
internal sealed class StoredFileResult(StoredFile file, IResultStorage storage) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var request = httpContext.Request;
        var response = httpContext.Response;
        var requestHeaders = request.GetTypedHeaders();
        var responseHeaders = response.GetTypedHeaders();
        var etag = EntityTagHeaderValue.TryParse(file.ETag, out var parsed) ? parsed : null;
        response.Headers.AcceptRanges = "bytes";
        responseHeaders.ETag = etag;
        responseHeaders.LastModified = file.LastModified;

        if (NotModified(requestHeaders, etag, file.LastModified))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        var range = Select(requestHeaders, file.Length, etag, file.LastModified);
        if (range is null)
        {
            responseHeaders.ContentRange = new ContentRangeHeaderValue(file.Length);
            await ApiErrors.WriteAsync(httpContext, StatusCodes.Status416RangeNotSatisfiable,
                $"the range asked for starts beyond the file's {file.Length} bytes", "Range");
            return;
        }

        var (start, length, partial) = range.Value;
        response.ContentType = file.ContentType;
        response.ContentLength = length;
        if (partial)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            responseHeaders.ContentRange = new ContentRangeHeaderValue(start, start + length - 1, file.Length);
        }

        if (HttpMethods.IsHead(request.Method) || length == 0)
        {
            return;
        }

        var aborted = httpContext.RequestAborted;
        try
        {
            if (file.PhysicalPath is { } path)
            {
                await response.SendFileAsync(path, start, length, aborted);
                return;
            }

            await using var body = await storage.OpenReadAsync(file, start, length, aborted);
            await body.CopyToAsync(response.Body, 1 << 16, aborted);
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException && !response.HasStarted)
        {
            // Deleted between the lookup and the send (the task was deleted meanwhile).
            response.Headers.Remove(HeaderNames.ETag);
            response.Headers.Remove(HeaderNames.LastModified);
            response.Headers.Remove(HeaderNames.ContentRange);
            response.ContentLength = null;
            await ApiErrors.WriteAsync(httpContext, StatusCodes.Status404NotFound, "the file no longer exists");
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away (a player seeking elsewhere): nothing to answer.
        }
    }

    /// <summary>
    /// Whether the client's copy is current: <c>If-None-Match</c> decides when sent (weak comparison, as RFC 9110 asks);
    /// otherwise <c>If-Modified-Since</c>, to the second.
    /// </summary>
    internal static bool NotModified(RequestHeaders headers, EntityTagHeaderValue? etag, DateTimeOffset? lastModified)
    {
        if (headers.IfNoneMatch is { Count: > 0 } matches)
        {
            return etag is not null && matches.Any(match => match.Equals(EntityTagHeaderValue.Any) || match.Compare(etag, useStrongComparison: false));
        }

        return headers.IfModifiedSince is { } since && lastModified is { } modified
               && modified.ToUnixTimeSeconds() <= since.ToUnixTimeSeconds();
    }

    /// <summary>The bytes to send: the whole file, one satisfiable range, or null when the range cannot be satisfied.</summary>
    internal static (long Start, long Length, bool Partial)? Select(
        RequestHeaders headers, long fileLength, EntityTagHeaderValue? etag, DateTimeOffset? lastModified)
    {
        var whole = (0L, fileLength, false);
        var ranges = headers.Range;
        if (ranges is null || !string.Equals(ranges.Unit.Value, "bytes", StringComparison.OrdinalIgnoreCase) || ranges.Ranges.Count != 1
            || !IfRangeHolds(headers.IfRange, etag, lastModified))
        {
            return whole;
        }

        var item = ranges.Ranges.First();
        long start, end;
        if (item.From is null)
        {
            // "bytes=-500": the last 500 bytes.
            var suffix = item.To ?? 0;
            if (suffix == 0 || fileLength == 0)
            {
                return null;
            }

            start = Math.Max(0, fileLength - suffix);
            end = fileLength - 1;
        }
        else
        {
            start = item.From.Value;
            if (start >= fileLength)
            {
                return null;
            }

            end = Math.Min(item.To ?? fileLength - 1, fileLength - 1);
        }

        return (start, end - start + 1, true);
    }

    private static bool IfRangeHolds(RangeConditionHeaderValue? condition, EntityTagHeaderValue? etag, DateTimeOffset? lastModified)
    {
        if (condition is null)
        {
            return true;
        }

        if (condition.EntityTag is { } expected)
        {
            return etag is not null && expected.Compare(etag, useStrongComparison: true);
        }

        // HTTP dates have whole seconds.
        return condition.LastModified is { } date && lastModified is { } modified
               && modified.ToUnixTimeSeconds() <= date.ToUnixTimeSeconds();
    }
}
