using Kinema.Core.Storage;

namespace Kinema.Tests.Storage;

/// <summary>The storage contract on a node's disk.</summary>
public sealed class DiskResultStorageTests : ResultStorageContractTests
{
    private readonly TempDirectory _root = new();

    public DiskResultStorageTests()
    {
        Storage = new DiskResultStorage(_root.Path);
    }

    private protected override IResultStorage Storage { get; }

    [Fact]
    public async Task Disk_files_have_a_physical_path_and_no_direct_link()
    {
        await Storage.SaveAsync("task_disk", "video.mp4", Scratch("video.mp4", 10), CancellationToken.None);

        var file = await Storage.FindAsync("task_disk", "video.mp4", CancellationToken.None);

        file!.PhysicalPath.Should().Be(Path.Combine(_root.Path, "task_disk", "video.mp4"));
        Storage.GetDirectLink("task_disk", "video.mp4", TimeSpan.FromHours(1)).Should().BeNull();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _root.Dispose();
        }

        base.Dispose(disposing);
    }
}
