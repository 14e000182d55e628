using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Uploads;

/// <summary>
/// Deletes uploaded images older than <see cref="UploadOptions.Retention"/>. Every node runs it: an upload's age is in
/// its id, deleting is idempotent, so two nodes sweeping at once only repeat each other's work.
/// </summary>
internal sealed partial class UploadJanitor(
    IResultStorage storage, IOptions<UploadOptions> options, TimeProvider time, ILogger<UploadJanitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval, time);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or TimeoutException
                                                  && !stoppingToken.IsCancellationRequested)
            {
                // Storage out of reach is expected and repeats every interval until it is back: one line, no stack.
                LogSweepUnreachable(logger, exception.GetType().Name, exception.Message);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogSweepFailed(logger, exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Deletes every upload stored before now minus the retention; returns how many.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - options.Value.Retention;
        var expired = new List<string>();
        await foreach (var id in storage.ListIdsAsync(UploadUrls.IdPrefix, cancellationToken))
        {
            if (TaskIds.TimeOf(id.AsSpan(UploadUrls.IdPrefix.Length)) is { } stored && stored < cutoff)
            {
                expired.Add(id);
            }
        }

        // Collected first: deleting while a storage listing pages through the same keys could skip some.
        foreach (var id in expired)
        {
            await storage.DeleteAsync(id, cancellationToken);
        }

        if (expired.Count > 0)
        {
            LogSwept(logger, expired.Count, options.Value.Retention);
        }

        return expired.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} uploaded images older than {Retention}")]
    private static partial void LogSwept(ILogger logger, int count, TimeSpan retention);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping expired uploads failed: result storage is out of reach ({Kind}: {Reason}); trying again at the next interval")]
    private static partial void LogSweepUnreachable(ILogger logger, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping expired uploads failed; trying again at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
