using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd;

/// <summary>Accepted tasks survive the server dying mid-render, and each completes exactly once.</summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "kinema-crash", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Killed_server_finishes_every_accepted_task_after_restart()
    {
        string key;
        var ids = new List<string>();
        await using (var first = await ServerProcess.StartAsync(_data))
        {
            key = (await File.ReadAllTextAsync(new KinemaPaths(_data).CliKey)).Trim();
            using var client = first.ClientFor(key);
            for (var i = 0; i < 6; i++)
            {
                ids.Add(await client.CreateAsync($$"""{"model":"kling-v3","prompt":"crash test {{i}}","duration":5,"audio":true}"""));
            }

            await WaitUntilAnyProcessingAsync(client, ids);
            await first.KillAsync();
        }

        var work = new KinemaPaths(_data).Work;
        var killedRenders = Directory.GetDirectories(work, "attempt-*", SearchOption.AllDirectories);
        // What a node killed mid-render leaves for a task another node then finished: this node never renders it again.
        var elsewhere = Directory.CreateDirectory(Path.Combine(work, "task_01KB00000000000000000ELSE1", "attempt-1")).FullName;
        await File.WriteAllTextAsync(Path.Combine(elsewhere, "frame-0001.png"), "scratch");
        var keptCopy = Directory.CreateDirectory(Path.Combine(work, "task_01KB00000000000000000KEPT1", "archive")).FullName;
        await File.WriteAllTextAsync(Path.Combine(keptCopy, "video.mp4"), "kept for a storage outage");
        // What a killed node leaves of requests it was serving: an upload on its way to storage, a derived file.
        var requests = Directory.CreateDirectory(new KinemaPaths(_data).RequestScratch).FullName;
        var upload = Path.Combine(requests, "upl_01KB00000000000000000UPLD1-image.png");
        await File.WriteAllTextAsync(upload, "half an upload");
        var derived = Directory.CreateDirectory(Path.Combine(requests, "openai-0123456789abcdef0123456789abcdef")).FullName;
        await File.WriteAllTextAsync(Path.Combine(derived, "video.mp4"), "half a copy");

        await using (var second = await ServerProcess.StartAsync(_data))
        {
            killedRenders.Should().NotBeEmpty("the killed server was rendering");
            Directory.Exists(Path.GetDirectoryName(elsewhere)).Should().BeFalse("a dead render's scratch goes when the node starts again");
            File.Exists(Path.Combine(keptCopy, "video.mp4")).Should().BeTrue("an upstream video kept for an outage is the poller's to remove");
            File.Exists(upload).Should().BeFalse("an upload's scratch goes with the process that wrote it");
            Directory.Exists(derived).Should().BeFalse("so does a derived file's");
            second.Output.Should().Contain("scratch entries that an earlier process left");
            second.Output.Should().NotContain("First start", "the key made on first start is kept");
            using var client = second.ClientFor(key);
            foreach (var id in ids)
            {
                var task = await client.WaitForTerminalAsync(id, TimeSpan.FromMinutes(3));
                task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            }

            await second.TerminateAsync(TimeSpan.FromSeconds(30));
            second.ExitCode.Should().Be(0);
        }

        await using var store = KinemaDataStore.Open(new KinemaPaths(_data));
        (await store.CountAsync("status = 'completed'")).Should().Be(6);
        (await store.CountAsync("attempts > 2")).Should().Be(0, "a task is retried once after the crash at most");
        foreach (var id in ids)
        {
            File.Exists(Path.Combine(new KinemaPaths(_data).Results, id, "video.mp4")).Should().BeTrue();
        }
    }

    [Fact]
    public async Task Sigterm_stops_cleanly_and_the_next_start_resumes_in_flight_work()
    {
        string key;
        string id;
        await using (var first = await ServerProcess.StartAsync(_data))
        {
            key = (await File.ReadAllTextAsync(new KinemaPaths(_data).CliKey)).Trim();
            using var client = first.ClientFor(key);
            id = await client.CreateAsync("""{"model":"kling-v3","prompt":"long render","mode":"pro","duration":15}""");
            await WaitUntilAnyProcessingAsync(client, [id]);

            await first.TerminateAsync(TimeSpan.FromSeconds(30));
            first.ExitCode.Should().Be(0);
        }

        await using (var store = KinemaDataStore.Open(new KinemaPaths(_data)))
        {
            var pending = await store.Tasks.GetAsync("default", id, CancellationToken.None);
            pending!.State.Should().Be(TaskState.Pending, "shutdown gives in-flight work back to the queue");
        }

        await using var second = await ServerProcess.StartAsync(_data);
        using var again = second.ClientFor(key);
        var task = await again.WaitForTerminalAsync(id, TimeSpan.FromMinutes(3));
        task.GetProperty("status").GetString().Should().Be("completed");
    }

    [Fact]
    public async Task A_bad_setting_stops_start_up_with_a_message_naming_the_key()
    {
        var act = () => ServerProcess.StartAsync(_data, new Dictionary<string, string> { ["KINEMA__SCHEDULER__WORKERS"] = "0" });

        var failure = (await act.Should().ThrowAsync<InvalidOperationException>()).Which;
        failure.Message.Should().Contain("exited with 2").And.Contain("invalid configuration in Kinema:Scheduler").And.Contain("Workers");
    }


    private static async Task WaitUntilAnyProcessingAsync(HttpClient client, IReadOnlyList<string> ids)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var id in ids)
            {
                var task = await client.GetTaskAsync(id);
                if (task.GetProperty("status").GetString() == "processing" && task.GetProperty("progress").GetInt32() > 0)
                {
                    return;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("no task started processing");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
