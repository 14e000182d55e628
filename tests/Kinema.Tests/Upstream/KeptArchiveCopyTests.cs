using Kinema.Core.Upstream;

namespace Kinema.Tests.Upstream;

/// <summary>
/// Copies of upstream videos kept in a node's scratch while the result storage is out are removed once no try has
/// touched them for the idle limit, and nothing else in the scratch directory is.
/// </summary>
public sealed class KeptArchiveCopyTests
{
    [Fact]
    public void Copies_untouched_for_the_idle_limit_go_and_the_rest_of_the_scratch_stays()
    {
        using var work = new TempDirectory();
        var stale = Copy(work.Path, "task_stale", age: TimeSpan.FromHours(2));
        var fresh = Copy(work.Path, "task_fresh", age: TimeSpan.FromMinutes(10));
        var staleBesideRender = Copy(work.Path, "task_rendering", age: TimeSpan.FromHours(3));
        var render = Directory.CreateDirectory(Path.Combine(work.Path, "task_rendering", "attempt-1")).FullName;
        // An old directory whose file was written a moment ago (a download in progress) is not idle.
        var writing = Copy(work.Path, "task_writing", age: TimeSpan.FromHours(2));
        File.SetLastWriteTimeUtc(Path.Combine(writing, "video.mp4"), DateTime.UtcNow);

        var removed = ResultArchiver.RemoveStaleCopies(work.Path, TimeSpan.FromHours(1));

        removed.Should().Be(2);
        Directory.Exists(stale).Should().BeFalse();
        Directory.Exists(Path.GetDirectoryName(stale)).Should().BeFalse("an emptied task directory goes too");
        Directory.Exists(staleBesideRender).Should().BeFalse();
        Directory.Exists(render).Should().BeTrue("a render's scratch is not the archiver's");
        Directory.Exists(fresh).Should().BeTrue();
        Directory.Exists(writing).Should().BeTrue();
        ResultArchiver.RemoveStaleCopies(Path.Combine(work.Path, "missing"), TimeSpan.FromHours(1)).Should().Be(0);
    }

    private static string Copy(string work, string taskId, TimeSpan age)
    {
        var archive = Directory.CreateDirectory(Path.Combine(work, taskId, "archive")).FullName;
        var then = DateTime.UtcNow - age;
        foreach (var name in new[] { "video.mp4", "upstream-id" })
        {
            var file = Path.Combine(archive, name);
            File.WriteAllText(file, name);
            File.SetLastWriteTimeUtc(file, then);
        }

        Directory.SetLastWriteTimeUtc(archive, then);
        return archive;
    }
}
