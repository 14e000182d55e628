using Kinema.Server.Errors;
using Microsoft.Net.Http.Headers;

namespace Kinema.Server.Limits;

/// <summary>
/// Request bodies sent with <c>Content-Encoding: gzip</c>, <c>br</c> or <c>deflate</c> are read decompressed, so a client
/// can shrink the base64 images of a large JSON body. The decompressed body is held to the same size limit as a plain one
/// (the framework's middleware wraps it in a size-limited stream), so a small bomb is refused with a 413. Any other coding
/// is a 415 naming the header: left alone, its bytes would reach the JSON reader and fail as "not valid JSON".
/// </summary>
internal static class CompressedRequests
{
    public static readonly IReadOnlyList<string> Codings = ["gzip", "br", "deflate"];

    private static readonly object EncodingKey = new();

    public static IServiceCollection AddCompressedRequests(this IServiceCollection services) =>
        services.AddRequestDecompression();

    public static IApplicationBuilder UseCompressedRequests(this IApplicationBuilder app)
    {
        app.Use(async (context, next) =>
        {
            var values = context.Request.Headers.ContentEncoding;
            if (values.Count > 0)
            {
                var codings = values.SelectMany(value => (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    .Where(coding => !coding.Equals("identity", StringComparison.OrdinalIgnoreCase))
                    .ToList();
                if (codings.Count > 1)
                {
                    await ApiErrors.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType,
                        $"the request body may have one Content-Encoding ({string.Join(", ", Codings)}), not {string.Join(", ", codings)}",
                        HeaderNames.ContentEncoding);
                    return;
                }

                if (codings.Count == 1)
                {
                    if (!Codings.Contains(codings[0], StringComparer.OrdinalIgnoreCase))
                    {
                        await ApiErrors.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType,
                            $"Content-Encoding {codings[0]} is not supported; send the body as is or as {string.Join(", ", Codings)}",
                            HeaderNames.ContentEncoding);
                        return;
                    }

                    // The framework's middleware removes the header once it has wrapped the body; the error handler still
                    // needs to know that a broken body was a broken compressed stream.
                    context.Items[EncodingKey] = codings[0].ToLowerInvariant();
                    context.Request.Headers.ContentEncoding = codings[0];
                }
                else
                {
                    context.Request.Headers.Remove(HeaderNames.ContentEncoding);
                }
            }

            await next(context);
        });
        return app.UseRequestDecompression();
    }

    /// <summary>The coding of this request's body when it was sent compressed.</summary>
    public static string? EncodingOf(HttpContext context) => context.Items.TryGetValue(EncodingKey, out var coding) ? coding as string : null;

    /// <summary>Whether <paramref name="exception"/> is a compressed body that does not decompress.</summary>
    public static bool IsUndecodable(HttpContext context, Exception? exception) =>
        EncodingOf(context) is not null
        && (exception is InvalidDataException
            // BrotliStream reports a broken stream as an InvalidOperationException of its own.
            || exception is InvalidOperationException { TargetSite.DeclaringType: { } thrower } && thrower == typeof(System.IO.Compression.BrotliStream));
}
