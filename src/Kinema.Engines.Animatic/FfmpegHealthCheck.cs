using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Kinema.Engines.Animatic;

/// <summary>The readiness check <c>ffmpeg</c>: the animatic engine cannot render without it.</summary>
internal sealed class FfmpegHealthCheck(FfmpegAvailability ffmpeg) : IHealthCheck
{
    public const string Name = "ffmpeg";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await ffmpeg.FindProblemAsync(cancellationToken) is { } problem
            ? HealthCheckResult.Unhealthy(problem)
            : HealthCheckResult.Healthy("ffmpeg runs");
}
