using Kinema.Core.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Kinema.Server.Operations;

/// <summary>
/// Metrics and traces through OpenTelemetry: the <c>Kinema</c> meter and ASP.NET Core's HTTP server metrics are served
/// at <c>/metrics</c> in Prometheus text; when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the standard variable, read
/// through configuration like every <c>OTEL_*</c> setting), metrics and the <c>Kinema</c> spans are also exported over
/// OTLP. Without it nothing leaves the process and no spans are recorded.
/// </summary>
internal static class TelemetryRegistration
{
    public const string MetricsPath = "/metrics";

    public static IServiceCollection AddKinemaTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "kinema"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(KinemaMetrics.MeterName).AddAspNetCoreInstrumentation().AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(KinemaActivities.SourceName)
                // Probes and scrapes every few seconds would drown the traces that matter.
                .AddAspNetCoreInstrumentation(options => options.Filter = http => !IsOperational(http.Request.Path))
                .AddOtlpExporter());
        }

        return services;
    }

    public static IEndpointConventionBuilder MapKinemaMetrics(this IEndpointRouteBuilder app) =>
        app.MapPrometheusScrapingEndpoint(MetricsPath).ExcludeFromDescription();

    private static bool IsOperational(PathString path) =>
        path.StartsWithSegments(MetricsPath) || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/healthz");
}
