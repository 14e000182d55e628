using System.Text.RegularExpressions;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;

namespace Kinema.EndToEnd.Cli;

/// <summary>
/// <c>kinema backup</c> run as a process against the data directory of a running server that keeps taking tasks, then a
/// second server started on the backup: what the backup counted is what the restored server has, and a result link
/// signed before the backup still plays from it.
/// </summary>
public sealed partial class BackupTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kinema-backup-tests", Guid.NewGuid().ToString("N"));
    private string Data => Path.Combine(_root, "data");
    private string Backup => Path.Combine(_root, "backup");

    public ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_backup_taken_while_tasks_arrive_restores_every_task_it_counted_and_links_signed_before_it()
    {
        await using var server = await KinemaTestServer.StartAsync(dataDirectory: Data);
        var finished = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"kept safe","duration":3}""");
        var completed = await server.Alice.WaitForTerminalAsync(finished, TimeSpan.FromMinutes(1));
        completed.GetProperty("status").GetString().Should().Be("completed", completed.ToString());
        var signedLink = new Uri(completed.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!);

        // Creates keep arriving while the backup runs: its snapshot must be consistent, not torn between commits.
        using var stop = new CancellationTokenSource();
        var created = new List<string> { finished };
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = await server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"arriving {{created.Count}}","duration":3}""");
                lock (created)
                {
                    created.Add(id);
                }
            }
        });
        await Eventually(() => { lock (created) { return created.Count >= 20; } });
        var backup = await CliRunner.RunAsync(["backup", Backup, "--data", Data, "--results"]);
        await stop.CancelAsync();
        await writer;

        backup.ExitCode.Should().Be(0, backup.Stdout + backup.Stderr);
        var counted = long.Parse(BackedUp().Match(backup.Stdout).Groups["tasks"].Value, System.Globalization.CultureInfo.InvariantCulture);
        counted.Should().BeInRange(20, created.Count, "every task created before the backup started, and none that was never made");
        backup.Stdout.Should().Contain("integrity ok").And.MatchRegex(@"Results: copied [1-9]\d* files");
        File.Exists(Path.Combine(Backup, "kinema.db-wal")).Should().BeFalse("the backup is one self-contained file");
        File.ReadAllBytes(Path.Combine(Backup, "signing.key")).Should().Equal(File.ReadAllBytes(Path.Combine(Data, "signing.key")));
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(Path.Combine(Backup, "signing.key")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        await using (var store = KinemaDataStore.Open(new KinemaPaths(Backup)))
        {
            (await store.CountAsync("1 = 1")).Should().Be(counted);
        }

        await using var restored = await KinemaTestServer.StartAsync(dataDirectory: Backup);
        using var alice = restored.ClientFor(server.AliceKey);
        var again = await alice.GetTaskAsync(finished);
        again.GetProperty("status").GetString().Should().Be("completed", "the original key and its tasks came back");
        using var anonymous = new HttpClient();
        var video = Path.Combine(_root, "restored.mp4");
        await File.WriteAllBytesAsync(video, await anonymous.GetByteArrayAsync(new Uri(restored.BaseAddress, signedLink.PathAndQuery)));
        var report = await Ffprobe.ProbeAsync(video);
        report.VideoCodec.Should().Be("h264");
        (report.Width, report.Height).Should().Be((1280, 720));
        report.Duration.Should().BeApproximately(3, 0.06);
        report.FrameRate.Should().BeApproximately(24, 0.01);
        report.HasAudio.Should().BeFalse();
        foreach (var id in created.Take((int)counted))
        {
            (await alice.GetTaskAsync(id)).GetProperty("status").GetString().Should().NotBeNullOrEmpty();
        }
    }

    [Fact]
    public async Task A_second_backup_copies_only_the_results_it_lacks()
    {
        Directory.CreateDirectory(Data);
        await File.WriteAllTextAsync(Path.Combine(Data, "appsettings.json"), """{"Kinema":{"ResultUrlLifetime":"2.00:00:00"}}""");
        await using (var server = await KinemaTestServer.StartAsync(dataDirectory: Data))
        {
            var id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"once","duration":3}""");
            (await server.Alice.WaitForTerminalAsync(id, TimeSpan.FromMinutes(1))).GetProperty("status").GetString().Should().Be("completed");
        }

        var first = await CliRunner.RunAsync(["backup", Backup, "--data", Data, "--results"]);
        var second = await CliRunner.RunAsync(["backup", Backup, "--data", Data, "--results"]);
        var withoutResults = await CliRunner.RunAsync(["backup", Backup, "--data", Data]);

        first.ExitCode.Should().Be(0, first.Stderr);
        first.Stdout.Should().MatchRegex(@"Backed up 1 task and 2 API keys .*integrity ok").And.MatchRegex(@"Results: copied [1-9]\d* files");
        second.ExitCode.Should().Be(0, second.Stderr);
        second.Stdout.Should().MatchRegex(@"Results: copied 0 files \(0 B\); [1-9]\d* were already in the backup");
        withoutResults.Stdout.Should().Contain("Results were not copied: pass --results");
        (await File.ReadAllTextAsync(Path.Combine(Backup, "appsettings.json"))).Should().Contain("2.00:00:00", "the directory's own settings come along");

        var blocked = Path.Combine(_root, "blocked");
        Directory.CreateDirectory(blocked);
        await File.WriteAllTextAsync(Path.Combine(blocked, "results"), "a file where the results directory goes");
        var resultsBlocked = await CliRunner.RunAsync(["backup", blocked, "--data", Data, "--results"]);
        resultsBlocked.ExitCode.Should().Be(1);
        resultsBlocked.Stderr.Should().Contain("the database is backed up, but copying the other files").And.NotContain("Unhandled exception");
        File.Exists(Path.Combine(blocked, "kinema.db")).Should().BeTrue();
    }

    [Fact]
    public async Task Backup_refuses_what_it_cannot_back_up_and_says_why()
    {
        var missing = await CliRunner.RunAsync(["backup", Backup, "--data", Path.Combine(_root, "nothing-here")]);
        missing.ExitCode.Should().Be(2);
        missing.Stderr.Should().Contain("there is no Kinema database at").And.Contain("--data");
        Directory.Exists(Path.Combine(Backup)).Should().BeTrue("the directory is made first");
        File.Exists(Path.Combine(Backup, "kinema.db")).Should().BeFalse();

        await using (await KinemaTestServer.StartAsync(dataDirectory: Data))
        {
        }

        var aFile = Path.Combine(_root, "a-file");
        await File.WriteAllTextAsync(aFile, "not a directory");
        var notADirectory = await CliRunner.RunAsync(["backup", Path.Combine(aFile, "backup"), "--data", Data]);
        notADirectory.ExitCode.Should().Be(2);
        notADirectory.Stderr.Should().Contain("cannot make the backup directory").And.NotContain("Unhandled exception");

        var itself = await CliRunner.RunAsync(["backup", Data, "--data", Data]);
        itself.ExitCode.Should().Be(2);
        itself.Stderr.Should().Contain("must not be the data directory itself");

        var postgres = await CliRunner.RunAsync(["backup", Backup, "--data", Data],
            new Dictionary<string, string> { ["Kinema__Store__Provider"] = "postgres", ["ConnectionStrings__Kinema"] = "Host=127.0.0.1;Port=1" });
        postgres.ExitCode.Should().Be(2);
        postgres.Stderr.Should().Contain("PostgreSQL").And.Contain("pg_dump");
    }

    [GeneratedRegex(@"Backed up (?<tasks>\d+) tasks? and")]
    private static partial Regex BackedUp();

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not met");
            }

            await Task.Delay(20);
        }
    }
}
