using System.Text.Json;
using Kinema.Core.Diagnostics;
using Kinema.Core.Storage;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Kinema.Server.Operations;

/// <summary>
/// <c>GET /readyz</c>: 200 when every check tagged <see cref="HealthTags.Ready"/> passes (store, storage, and what the
/// engines add, such as ffmpeg), else 503; the body names each check with its status and a message. No API key:
/// load balancers and orchestrators call it.
/// </summary>
internal static partial class ReadinessEndpoint
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    public static IServiceCollection AddKinemaReadiness(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<StoreHealthCheck>(StoreHealthCheck.Name, null, [HealthTags.Ready], CheckTimeout)
            .AddCheck<ResultStorageHealthCheck>(ResultStorageHealthCheck.Name, null, [HealthTags.Ready], CheckTimeout);
        services.AddSingleton<ReadinessLog>();
        return services;
    }

    public static IEndpointConventionBuilder MapReadiness(this IEndpointRouteBuilder app) =>
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = registration => registration.Tags.Contains(HealthTags.Ready),
            ResponseWriter = WriteAsync,
        }).ExcludeFromDescription();

    private static async Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.RequestServices.GetRequiredService<ReadinessLog>().Observe(report);
        var checks = report.Entries
            .OrderBy(entry => entry.Key, StringComparer.Ordinal)
            .Select(entry => new ReadinessCheck(entry.Key, Wire(entry.Value.Status), entry.Value.Description))
            .ToList();
        http.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(http.Response.Body, new ReadinessResponse(Wire(report.Status), checks),
            ServerJsonContext.Default.ReadinessResponse, http.RequestAborted);
    }

    private static string Wire(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };
}

/// <summary>
/// Logs readiness when it changes, not on every probe: an orchestrator probing a broken node every few seconds would
/// otherwise repeat the same error forever (which is why the health-check service's own per-probe logs are muted).
/// </summary>
internal sealed partial class ReadinessLog(ILogger<ReadinessLog> logger)
{
    private int _lastStatus = (int)HealthStatus.Healthy;

    public void Observe(HealthReport report)
    {
        if (Interlocked.Exchange(ref _lastStatus, (int)report.Status) == (int)report.Status)
        {
            return;
        }

        if (report.Status == HealthStatus.Healthy)
        {
            LogReady(logger);
            return;
        }

        foreach (var (name, entry) in report.Entries.Where(entry => entry.Value.Status != HealthStatus.Healthy))
        {
            // An outage (the database or storage out of reach) is said in one line; only a bug keeps its stack trace.
            if (entry.Exception is { } exception && StoreFaults.IsUnreachable(exception))
            {
                LogCheckFailed(logger, name, $"{entry.Description}: {StoreFaults.Reason(exception)}", null);
            }
            else
            {
                LogCheckFailed(logger, name, entry.Description ?? "", entry.Exception);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ready again: every readiness check passes")]
    private static partial void LogReady(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not ready: the {Check} check fails: {Description}")]
    private static partial void LogCheckFailed(ILogger logger, string check, string description, Exception? exception);
}

/// <summary>The body of <c>GET /readyz</c>.</summary>
internal sealed record ReadinessResponse(string Status, IReadOnlyList<ReadinessCheck> Checks);

/// <summary>One readiness check's verdict.</summary>
internal sealed record ReadinessCheck(string Name, string Status, string? Message);
