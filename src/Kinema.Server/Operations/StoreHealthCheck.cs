using Kinema.Core.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Kinema.Server.Operations;

/// <summary>The readiness check <c>store</c>: a real read through <see cref="ITaskStore"/>, whatever the store is.</summary>
internal sealed class StoreHealthCheck(ITaskStore store) : IHealthCheck
{
    public const string Name = "store";

    // No API key maps to this tenant, so the read returns nothing and costs one index probe in any store.
    private const string ProbeTenant = "_kinema_readiness";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.ListAsync(ProbeTenant, new TaskQuery(1), cancellationToken);
            return HealthCheckResult.Healthy("the task store answers");
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"the task store cannot be read ({exception.GetType().Name})", exception);
        }
    }
}
