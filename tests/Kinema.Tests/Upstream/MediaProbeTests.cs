using System.Diagnostics;
using Kinema.Core.Engines;
using Kinema.Core.Upstream;

namespace Kinema.Tests.Upstream;

public sealed class MediaProbeTests
{
    [Fact]
    public async Task A_probe_that_does_not_finish_in_time_is_a_transient_failure_and_leaves_no_ffprobe_behind()
    {
        using var directory = new TempDirectory();
        var path = await NeverWrittenAsync(directory);

        var probe = () => MediaProbe.ProbeAsync(path, TimeSpan.FromSeconds(1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        var failure = (await probe.Should().ThrowAsync<UpstreamException>()).Which;
        failure.Kind.Should().Be(UpstreamErrorKind.Transient);
        failure.Message.Should().Contain("ffprobe took longer than 1 s");
        (await ProbesLeftAsync(path)).Should().BeEmpty("the timed-out ffprobe is killed, not left waiting");
    }

    [Fact]
    public async Task A_cancelled_probe_is_cancelled_and_leaves_no_ffprobe_behind()
    {
        using var directory = new TempDirectory();
        var path = await NeverWrittenAsync(directory);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var probe = () => MediaProbe.ProbeAsync(path, TimeSpan.FromMinutes(5), cancel.Token).WaitAsync(TimeSpan.FromSeconds(60));

        await probe.Should().ThrowAsync<OperationCanceledException>();
        (await ProbesLeftAsync(path)).Should().BeEmpty("a cancelled probe's ffprobe is killed too");
    }

    /// <summary>A named pipe nobody writes to: ffprobe waits in open() for good, as a probe that never returns would.</summary>
    private static async Task<string> NeverWrittenAsync(TempDirectory directory)
    {
        var path = Path.Combine(directory.Path, "never-written.mp4");
        using var mkfifo = Process.Start("mkfifo", [path]);
        await mkfifo.WaitForExitAsync();
        mkfifo.ExitCode.Should().Be(0);
        return path;
    }

    /// <summary>The ffprobe processes still running on the path, once a killed one has had a few seconds to die.</summary>
    private static async Task<List<string>> ProbesLeftAsync(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var found = ProbesOf(path);
        while (found.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            found = ProbesOf(path);
        }

        return found;
    }

    private static List<string> ProbesOf(string path)
    {
        var found = new List<string>();
        foreach (var process in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var arguments = File.ReadAllText(Path.Combine(process, "cmdline"));
                // A killed child lingers as a zombie with an empty command line until it is reaped: not running.
                if (arguments.Contains("ffprobe", StringComparison.Ordinal) && arguments.Contains(path, StringComparison.Ordinal))
                {
                    found.Add(arguments);
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
            }
        }

        return found;
    }
}
