using System.Diagnostics.Metrics;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kinema.Core.Diagnostics;

/// <summary>
/// The queue gauges: <c>kinema.queue.depth</c> (pending tasks) and <c>kinema.upstream.waiting</c> (tasks waiting for
/// an upstream). A scrape must not cost a database query, and many scrapers (or a fast one) must not multiply them, so
/// the counts are sampled here every <see cref="SampleInterval"/> and the gauges report the last sample.
/// </summary>
internal sealed partial class QueueGauges : BackgroundService
{
    internal static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(5);

    private readonly ITaskStore _tasks;
    private readonly IUpstreamTaskStore _upstream;
    private readonly TimeProvider _time;
    private readonly ILogger<QueueGauges> _logger;
    // -1 until the first sample: a gauge reports nothing rather than a made-up zero.
    private int _pending = -1;
    private int _waiting = -1;

    public QueueGauges(KinemaMetrics metrics, ITaskStore tasks, IUpstreamTaskStore upstream, TimeProvider time, ILogger<QueueGauges> logger)
    {
        _tasks = tasks;
        _upstream = upstream;
        _time = time;
        _logger = logger;
        metrics.Meter.CreateObservableGauge("kinema.queue.depth", () => Observe(ref _pending), "{task}",
            "Tasks waiting for a worker (pending), sampled every few seconds.");
        metrics.Meter.CreateObservableGauge("kinema.upstream.waiting", () => Observe(ref _waiting), "{task}",
            "Tasks submitted to an upstream and not finished there, sampled every few seconds.");
    }

    private static IEnumerable<Measurement<int>> Observe(ref int sample)
    {
        var value = Volatile.Read(ref sample);
        return value < 0 ? [] : [new Measurement<int>(value)];
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SampleInterval, _time);
        try
        {
            do
            {
                await SampleAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task SampleAsync(CancellationToken cancellationToken)
    {
        try
        {
            Volatile.Write(ref _pending, await _tasks.CountPendingAsync(cancellationToken));
            Volatile.Write(ref _waiting, await _upstream.CountWaitingAsync(cancellationToken));
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The readiness check reports an unreachable store; the gauges keep their last sample meanwhile.
            LogSampleFailed(_logger, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sampling the queue gauges failed")]
    private static partial void LogSampleFailed(ILogger logger, Exception exception);
}
