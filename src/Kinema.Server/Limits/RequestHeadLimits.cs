using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Limits;

/// <summary>
/// How large a request's target and headers may be (<c>Kinema:RequestLimits</c>). The defaults are Kestrel's own.
/// </summary>
public sealed class RequestHeadLimitsOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:RequestLimits";

    /// <summary>The longest request target (path and query, as sent), in bytes; longer is a 414.</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxTargetBytes { get; set; } = 8 * 1024;

    /// <summary>The most bytes of header names and values together; more is a 431.</summary>
    [Range(4 * 1024, 4 * 1024 * 1024)]
    public int MaxHeaderBytes { get; set; } = 32 * 1024;

    /// <summary>The most header fields; more is a 431.</summary>
    [Range(16, 10_000)]
    public int MaxHeaderCount { get; set; } = 100;
}

/// <summary>
/// Answers a request whose target or headers are too large with the contract's envelope, naming the limit. Kestrel
/// would refuse such a request itself with an empty 414 or 431, before any of Kinema's code runs, so its limits are set
/// to twice these: a request up to that size gets the envelope here, and only one beyond it gets Kestrel's bare answer.
/// </summary>
internal static class RequestHeadLimits
{
    /// <summary>Room in Kestrel's request line for the method, the version and the spaces around the target.</summary>
    private const int RequestLineOverhead = 32;

    /// <summary>What Kestrel counts for a header beyond its name and value: ": " and the line's end.</summary>
    private const int HeaderLineOverhead = 4;

    public static IServiceCollection AddRequestHeadLimits(this IServiceCollection services)
    {
        services.AddOptions<RequestHeadLimitsOptions>().BindConfiguration(RequestHeadLimitsOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<RequestHeadLimitsOptions>>((kestrel, limits) =>
        {
            kestrel.Limits.MaxRequestLineSize = 2 * limits.Value.MaxTargetBytes + RequestLineOverhead;
            kestrel.Limits.MaxRequestHeadersTotalSize = 2 * limits.Value.MaxHeaderBytes;
            kestrel.Limits.MaxRequestHeaderCount = 2 * limits.Value.MaxHeaderCount;
        });
        return services;
    }

    public static IApplicationBuilder UseRequestHeadLimits(this IApplicationBuilder app)
    {
        var limits = app.ApplicationServices.GetRequiredService<IOptions<RequestHeadLimitsOptions>>().Value;
        app.Use((context, next) =>
        {
            var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
            if (target is not null && target.Length > limits.MaxTargetBytes)
            {
                return ApiErrors.WriteAsync(context, StatusCodes.Status414UriTooLong,
                    $"the request target (path and query) is {Format(target.Length)} bytes; this server accepts at most "
                    + $"{Format(limits.MaxTargetBytes)}: send large inputs in a request body");
            }

            var headers = context.Request.Headers;
            if (headers.Count > limits.MaxHeaderCount)
            {
                return ApiErrors.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge,
                    $"the request has {Format(headers.Count)} header fields; this server accepts at most {Format(limits.MaxHeaderCount)}");
            }

            var total = 0;
            var largest = 0;
            string? largestName = null;
            foreach (var (name, values) in headers)
            {
                var size = name.Length + HeaderLineOverhead;
                foreach (var value in values)
                {
                    size += value?.Length ?? 0;
                }

                total += size;
                if (size > largest)
                {
                    largest = size;
                    largestName = name;
                }
            }

            if (total > limits.MaxHeaderBytes)
            {
                return ApiErrors.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge,
                    $"the request's headers are {Format(total)} bytes; this server accepts at most {Format(limits.MaxHeaderBytes)} "
                    + $"(the largest is {largestName}, {Format(largest)} bytes)",
                    largestName);
            }

            return next(context);
        });
        return app;
    }

    private static string Format(int value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
