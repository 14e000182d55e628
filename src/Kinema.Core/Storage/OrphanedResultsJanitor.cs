using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Storage;

/// <summary>
/// Deletes stored files whose task failed or was cancelled. The scheduler and the poller remove such files when the
/// task ends; this catches those they could not, because the storage was out of reach at that moment or the node died
/// between the save and the removal. Every node runs it, at start and every <see cref="ResultStorageOptions.OrphanSweepInterval"/>:
/// the store decides which files are orphaned and deleting is idempotent, so two nodes sweeping at once only repeat
/// each other's work.
/// </summary>
internal sealed partial class OrphanedResultsJanitor(
    IResultStorage storage, ITaskStore store, IOptions<ResultStorageOptions> options, TimeProvider time,
    ILogger<OrphanedResultsJanitor> logger) : BackgroundService
{
    /// <summary>How many ids one store query asks about.</summary>
    internal const int BatchSize = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.OrphanSweepInterval, time);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested
                                              && (StoreFaults.IsUnreachable(exception) || exception is HttpRequestException or IOException or TimeoutException))
            {
                // An outage is expected and repeats every interval until it is over: one line, no stack.
                LogSweepUnreachable(logger, exception.GetType().Name, exception.Message);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogSweepFailed(logger, exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Deletes the files of every stored task id whose task failed or was cancelled; returns how many tasks' files.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var orphaned = new List<string>();
        var batch = new List<string>(BatchSize);
        await foreach (var id in storage.ListIdsAsync(TaskIds.Prefix, cancellationToken))
        {
            batch.Add(id);
            if (batch.Count == BatchSize)
            {
                orphaned.AddRange(await store.FindEndedWithoutResultAsync(batch, cancellationToken));
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            orphaned.AddRange(await store.FindEndedWithoutResultAsync(batch, cancellationToken));
        }

        // Collected first: deleting while a storage listing pages through the same keys could skip some.
        foreach (var id in orphaned)
        {
            await storage.DeleteAsync(id, cancellationToken);
        }

        if (orphaned.Count > 0)
        {
            LogSwept(logger, orphaned.Count);
        }

        return orphaned.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted the files of {Count} failed or cancelled tasks that had been left in the result storage")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping orphaned result files failed: the store or the result storage is out of reach ({Kind}: {Reason}); trying again at the next interval")]
    private static partial void LogSweepUnreachable(ILogger logger, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping orphaned result files failed; trying again at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
