using System.Diagnostics.Metrics;

namespace Kinema.Core.Diagnostics;

/// <summary>
/// Every instrument of the <c>Kinema</c> meter, defined once. Names follow OpenTelemetry's dotted style; the
/// Prometheus exporter turns <c>kinema.tasks.created</c> into <c>kinema_tasks_created_total</c> and a histogram in
/// seconds into <c>…_seconds_bucket</c>. Tags are low-cardinality by design: engine, model, mode, outcome, provider —
/// never a task id or a tenant.
/// </summary>
public sealed class KinemaMetrics
{
    /// <summary>The meter's name, for exporters to subscribe to.</summary>
    public const string MeterName = "Kinema";

    // Renders take seconds to minutes; upstream generations minutes to hours.
    private static readonly double[] RenderBuckets = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
    private static readonly double[] UpstreamBuckets = [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
    private static readonly int[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    private readonly Counter<long> _created;
    private readonly Counter<long> _completed;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _cancelled;
    private readonly Histogram<double> _renderDuration;
    private readonly Histogram<double> _upstreamDuration;
    private readonly Counter<long> _upstreamPolls;
    private readonly Counter<long> _webhookDeliveries;
    private readonly Counter<long> _webhookFailures;
    private readonly Histogram<int> _storeBatch;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/> (the host disposes it).</summary>
    public KinemaMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _created = Meter.CreateCounter<long>("kinema.tasks.created", "{task}", "Tasks accepted by the create endpoint.");
        _completed = Meter.CreateCounter<long>("kinema.tasks.completed", "{task}", "Tasks that reached completed.");
        _failed = Meter.CreateCounter<long>("kinema.tasks.failed", "{task}", "Tasks that reached failed.");
        _cancelled = Meter.CreateCounter<long>("kinema.tasks.cancelled", "{task}", "Tasks cancelled by their client.");
        _renderDuration = Meter.CreateHistogram("kinema.render.duration", "s",
            "Wall time of a successful local render, from claim to stored result.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RenderBuckets });
        _upstreamDuration = Meter.CreateHistogram("kinema.upstream.duration", "s",
            "Time from a worker taking an upstream task (submission) to its terminal state.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = UpstreamBuckets });
        _upstreamPolls = Meter.CreateCounter<long>("kinema.upstream.polls", "{poll}", "Polls of upstream tasks, by what they found.");
        _webhookDeliveries = Meter.CreateCounter<long>("kinema.webhook.deliveries", "{attempt}", "Webhook delivery attempts, by outcome.");
        _webhookFailures = Meter.CreateCounter<long>("kinema.webhook.failures", "{attempt}",
            "Webhook delivery attempts that did not deliver, by outcome (retry, failed, disabled, error).");
        _storeBatch = Meter.CreateHistogram("kinema.store.batch.size", "{write}",
            "Writes committed together in one store transaction (group commit).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
    }

    /// <summary>The meter, for observable instruments defined next to the state they observe.</summary>
    internal Meter Meter { get; }

    /// <summary>A task was created (not an idempotent replay).</summary>
    public void TaskCreated(string engine, string model) => _created.Add(1, Engine(engine), Model(model));

    /// <summary>A task reached completed.</summary>
    public void TaskCompleted(string engine, string model) => _completed.Add(1, Engine(engine), Model(model));

    /// <summary>A task reached failed.</summary>
    public void TaskFailed(string engine, string model) => _failed.Add(1, Engine(engine), Model(model));

    /// <summary>A task was cancelled.</summary>
    public void TaskCancelled(string engine, string model) => _cancelled.Add(1, Engine(engine), Model(model));

    /// <summary>A local render finished and its result was stored.</summary>
    public void RenderFinished(string engine, string mode, TimeSpan elapsed) =>
        _renderDuration.Record(elapsed.TotalSeconds, Engine(engine), new KeyValuePair<string, object?>("mode", mode));

    /// <summary>An upstream task reached a terminal state (<paramref name="outcome"/>: completed or failed).</summary>
    public void UpstreamFinished(string engine, string outcome, TimeSpan elapsed) =>
        _upstreamDuration.Record(Math.Max(0, elapsed.TotalSeconds), Engine(engine), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>An upstream poll ran; <paramref name="outcome"/> is what it found (running, succeeded, failed, cancelled, transient_error, error).</summary>
    public void UpstreamPolled(string engine, string outcome) =>
        _upstreamPolls.Add(1, Engine(engine), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>A webhook delivery attempt ended with <paramref name="outcome"/> (delivered, retry, failed, disabled, error).</summary>
    public void WebhookAttempted(string outcome)
    {
        var tag = new KeyValuePair<string, object?>("outcome", outcome);
        _webhookDeliveries.Add(1, tag);
        if (outcome != "delivered")
        {
            _webhookFailures.Add(1, tag);
        }
    }

    /// <summary>A store committed <paramref name="size"/> writes in one transaction; <paramref name="provider"/> names the store (sqlite, postgresql).</summary>
    public void RecordStoreBatch(int size, string provider) =>
        _storeBatch.Record(size, new KeyValuePair<string, object?>("provider", provider));

    private static KeyValuePair<string, object?> Engine(string engine) => new("engine", engine);

    private static KeyValuePair<string, object?> Model(string model) => new("model", model);
}
