using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Limits;

/// <summary><c>Kinema:RateLimits</c>.</summary>
internal sealed class RateLimitOptions
{
    public const string Section = "Kinema:RateLimits";

    /// <summary>
    /// Requests a key may make per minute unless it has its own limit (<c>keys create --rpm</c>). Generous: a client
    /// polling a dozen tasks every second stays under it; a runaway loop does not.
    /// </summary>
    [Range(1, 10_000_000)]
    public int RequestsPerMinute { get; set; } = 600;
}

/// <summary>
/// Per-key request rate limits with ASP.NET Core's rate-limiting middleware: one sliding-window limiter per API key id
/// (a minute in six segments, so a burst at a window's edge cannot double the rate). Requests without a recognised
/// key are not limited here: they get their 401 without touching the store more than the key cache does.
/// </summary>
internal static class KeyRateLimiting
{
    private const int Segments = 6;

    public static IServiceCollection AddKeyRateLimiting(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((limiter, settings) =>
        {
            var defaultLimit = settings.Value.RequestsPerMinute;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                TenantContext.Find(http) is { } caller
                    ? RateLimitPartition.GetSlidingWindowLimiter(caller.Key.Id, _ => new SlidingWindowRateLimiterOptions
                    {
                        PermitLimit = caller.Key.RequestsPerMinute ?? defaultLimit,
                        Window = TimeSpan.FromMinutes(1),
                        SegmentsPerWindow = Segments,
                        QueueLimit = 0,
                    })
                    : RateLimitPartition.GetNoLimiter(string.Empty));
            limiter.OnRejected = (context, _) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) && wait > TimeSpan.Zero
                    ? wait
                    : TimeSpan.FromMinutes(1) / Segments;
                var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
                context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                var limit = TenantContext.Find(context.HttpContext)?.Key.RequestsPerMinute ?? defaultLimit;
                return new ValueTask(ApiErrors.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests,
                    $"this API key is limited to {limit} requests per minute; retry after {seconds} s"));
            };
        });
        return services;
    }

    /// <summary>Recognises the key of every <c>/v1</c> request, then applies its limit.</summary>
    public static WebApplication UseKeyRateLimiting(this WebApplication app)
    {
        app.UseWhen(http => http.Request.Path.StartsWithSegments("/v1"), branch => branch.Use(async (http, next) =>
        {
            await TenantContext.IdentifyAsync(http);
            await next(http);
        }));
        app.UseRateLimiter();
        return app;
    }
}
