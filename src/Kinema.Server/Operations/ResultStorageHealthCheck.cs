using Kinema.Core.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Kinema.Server.Operations;

/// <summary>
/// The readiness check <c>storage</c>: a real lookup through <see cref="IResultStorage"/>, and for disk storage proof
/// that the results directory takes files (a lookup alone succeeds on a directory that is gone or read-only).
/// </summary>
internal sealed class ResultStorageHealthCheck(IResultStorage storage) : IHealthCheck
{
    public const string Name = "storage";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await storage.FindAsync("readiness-probe", "probe.mp4", cancellationToken);
            if (storage is DiskResultStorage disk)
            {
                disk.ProbeWritable();
            }

            return HealthCheckResult.Healthy("result storage answers and takes files");
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The body is served without a key, so it names the failure's kind; the log (on the change) has the detail.
            return HealthCheckResult.Unhealthy($"result storage cannot take files ({exception.GetType().Name})", exception);
        }
    }
}
