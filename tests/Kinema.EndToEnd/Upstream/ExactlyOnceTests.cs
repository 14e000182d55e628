using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Upstream;

/// <summary>Kinema killed between sending a submission and recording the answer never submits the task twice.</summary>
public sealed class ExactlyOnceTests : IAsyncLifetime
{
    private const string AccessKey = "ak_crash_1a2b3c";
    private const string SecretKey = "sk_crash_secret";
    private readonly string _data = Path.Combine(Path.GetTempPath(), "kinema-exactly-once", Guid.NewGuid().ToString("N"));
    private FakeKlingServer _kling = null!;

    public async ValueTask InitializeAsync() => _kling = await FakeKlingServer.StartAsync(AccessKey, SecretKey);

    public async ValueTask DisposeAsync()
    {
        await _kling.DisposeAsync();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Dictionary<string, string> Environment => new()
    {
        ["KINEMA__ENGINES__KLING__BASEURL"] = _kling.BaseAddress.ToString(),
        ["KINEMA__ENGINES__KLING__ACCESSKEY"] = AccessKey,
        ["KINEMA__ENGINES__KLING__SECRETKEY"] = SecretKey,
        ["KINEMA__UPSTREAM__FIRSTPOLL"] = "00:00:00.200",
        ["KINEMA__UPSTREAM__MAXPOLLINTERVAL"] = "00:00:00.500",
    };

    [Fact]
    public async Task A_crash_between_send_and_record_leads_to_exactly_one_upstream_submission()
    {
        // The fake records the submission, then holds its answer: Kinema dies without ever learning the upstream id.
        _kling.SubmitDelayAfterRecording = TimeSpan.FromSeconds(30);
        string id;
        string key;
        await using (var first = await ServerProcess.StartAsync(_data, Environment))
        {
            key = (await File.ReadAllTextAsync(new KinemaPaths(_data).CliKey)).Trim();
            using var client = first.ClientFor(key);
            id = await client.CreateAsync("""{"model":"kling-v3","prompt":"exactly once","duration":5}""");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (_kling.Submissions == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            _kling.Submissions.Should().Be(1);
            await first.KillAsync();
        }

        _kling.SubmitDelayAfterRecording = TimeSpan.Zero;
        await using (var second = await ServerProcess.StartAsync(_data, Environment))
        {
            using var client = second.ClientFor(key);
            var task = await client.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

            task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
            task.GetProperty("engine").GetString().Should().Be("kling");
            second.Output.Should().Contain("not submitting again");
        }

        _kling.Submissions.Should().Be(1, "the restarted server found the task by its external_task_id instead of resubmitting");
        _kling.Tasks.Values.Single().ExternalTaskId.Should().Be(id);
    }

    [Fact]
    public async Task A_send_that_got_through_after_its_lookup_missed_is_adopted_when_the_retry_is_refused_as_a_duplicate()
    {
        // A chaos run met this: the first send timed out, the lookup missed it, the retry was told the external id is taken.
        _kling.NextSubmitAcceptedLate = true;
        await using var server = await ServerProcess.StartAsync(_data, Environment);
        var key = (await File.ReadAllTextAsync(new KinemaPaths(_data).CliKey)).Trim();
        using var client = server.ClientFor(key);
        var id = await client.CreateAsync("""{"model":"kling-v3","prompt":"accepted late","duration":5}""");

        var task = await client.WaitForTerminalAsync(id, TimeSpan.FromSeconds(60));

        task.GetProperty("status").GetString().Should().Be("completed", task.ToString());
        task.GetProperty("engine").GetString().Should().Be("kling");
        server.Output.Should().Contain("already holds the task");
        _kling.Submissions.Should().Be(1, "the task the backend took late is the only one");
        _kling.Tasks.Values.Single().ExternalTaskId.Should().Be(id);
    }
}
