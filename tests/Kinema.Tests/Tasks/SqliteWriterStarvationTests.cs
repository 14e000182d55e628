using Kinema.Core;
using Kinema.Core.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kinema.Tests.Tasks;

[CollectionDefinition(nameof(ThreadPoolStarvation), DisableParallelization = true)]
public sealed class ThreadPoolStarvation;

/// <summary>
/// Blocks every thread-pool thread for a moment, so it runs alone after the parallel tests. It is synchronous on
/// purpose: an awaiting test would itself need a pool thread to go on.
/// </summary>
[Collection(nameof(ThreadPoolStarvation))]
public sealed class SqliteWriterStarvationTests
{
    [Fact]
    public async Task A_write_commits_while_every_thread_pool_thread_is_blocked()
    {
        using var directory = new TempDirectory();
        var database = new SqliteDatabase(new KinemaPaths(directory.Path).Database, fullSync: false, NullLogger.Instance);
        await database.WriteAsync(_ => 1, TestContext.Current.CancellationToken);

        using var release = new ManualResetEventSlim();
        // Far more blockers than the pool has threads: the pool adds a thread now and then when starved, and each new
        // one takes the next blocker, so anything queued behind them waits for all of them.
        // The global queue, not this thread's local one, where idle threads would look last.
        using var blockersDone = new CountdownEvent(64);
        for (var i = 0; i < 64; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem<object?>(_ =>
            {
                release.Wait(TimeSpan.FromSeconds(60));
                blockersDone.Signal();
            }, null, preferLocal: false);
        }

        var committed = false;
        var writer = new Thread(() =>
        {
#pragma warning disable xUnit1031 // a dedicated thread waits here, not a pool thread
            committed = database.WriteAsync(_ => 1, CancellationToken.None).Wait(TimeSpan.FromSeconds(30));
#pragma warning restore xUnit1031
        });
        writer.Start();
        var finished = writer.Join(TimeSpan.FromSeconds(10));
        var whilePoolBlocked = !release.IsSet;
        release.Set();

        finished.Should().BeTrue("the writer wakes on its own thread, whatever the thread pool is doing");
        committed.Should().BeTrue();
        whilePoolBlocked.Should().BeTrue();
        blockersDone.Wait(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken).Should().BeTrue();
        await database.DisposeAsync();
    }
}
