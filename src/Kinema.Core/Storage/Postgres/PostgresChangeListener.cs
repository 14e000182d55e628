using Kinema.Core.Diagnostics;
using Kinema.Core.Scheduling;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kinema.Core.Storage.Postgres;

/// <summary>
/// Hears what other nodes do: <c>LISTEN</c>s on the task channel and replays each notice into this node's
/// <see cref="TaskChangeFeed"/> (so SSE watchers wake, status caches drop the task, webhooks are enqueued) and, for new
/// tasks, wakes this node's idle workers. A notice lost while reconnecting costs only latency: watchers re-read
/// periodically and caches live for a second.
/// </summary>
internal sealed partial class PostgresChangeListener(
    PostgresDatabase database, TaskChangeFeed feed, TaskQueueSignal queue, TimeProvider time, ILogger<PostgresChangeListener> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var outage = new StoreOutageLog(logger, "The PostgreSQL notification listener", time);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.OpenAsync(stoppingToken);
                connection.Notification += (_, notice) => Dispatch(notice.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresDatabase.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                delay = TimeSpan.FromMilliseconds(200);
                outage.Succeeded();
                // Anything may have happened while this node was not listening.
                queue.Notify();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException or System.IO.IOException)
            {
                outage.Failed(exception);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private void Dispatch(string payload)
    {
        // kind|node|task: this node's own notices are replayed too (harmless: every consumer is idempotent), except new
        // tasks, for which the create already woke a local worker.
        var parts = payload.Split('|', 3);
        if (parts.Length != 3)
        {
            return;
        }

        switch (parts[0])
        {
            case "n" when parts[1] != database.NodeId:
                queue.Notify();
                break;
            case "c" when parts[2].Length > 0:
                feed.Publish(parts[2]);
                break;
            case "r" when parts[2].Length > 0:
                feed.Publish(parts[2]);
                // Given back by a node that stopped, or sent back by an upstream that lost it: any node's worker may take
                // it now, rather than at its next poll.
                if (parts[1] != database.NodeId)
                {
                    queue.Notify();
                }

                break;
            case "f" when parts[2].Length > 0:
                feed.PublishFinished(parts[2]);
                // A task that ended freed a worker somewhere: pending work may now be claimable.
                queue.Notify();
                break;
        }
    }
}
