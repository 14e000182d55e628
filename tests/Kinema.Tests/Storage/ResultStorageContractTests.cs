using System.Security.Cryptography;
using Kinema.Core.Storage;

namespace Kinema.Tests.Storage;

/// <summary>What every <see cref="IResultStorage"/> promises, run against each implementation (disk, S3).</summary>
public abstract class ResultStorageContractTests : IDisposable
{
    private readonly TempDirectory _scratch = new();

    /// <summary>The storage under test; files larger than <see cref="LargeFileBytes"/> must take its multipart path, if it has one.</summary>
    private protected abstract IResultStorage Storage { get; }

    private protected virtual long LargeFileBytes => 12L * 1024 * 1024 + 123;

    private static string NewTaskId() => "task_" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Save_then_find_gives_name_length_and_content_type()
    {
        var task = NewTaskId();
        var source = Scratch("video.mp4", 1000);

        var saved = await Storage.SaveAsync(task, "video.mp4", source, CancellationToken.None);
        var found = await Storage.FindAsync(task, "video.mp4", CancellationToken.None);

        saved.Length.Should().Be(1000);
        found.Should().NotBeNull();
        (found!.TaskId, found.Name, found.ContentType, found.Length).Should().Be((task, "video.mp4", "video/mp4", 1000L));
        File.Exists(source).Should().BeTrue("the caller owns its scratch file");
    }

    [Fact]
    public async Task Open_reads_the_whole_file_byte_exact()
    {
        var task = NewTaskId();
        var source = Scratch("poster.jpg", 70_000);
        await Storage.SaveAsync(task, "poster.jpg", source, CancellationToken.None);
        var file = (await Storage.FindAsync(task, "poster.jpg", CancellationToken.None))!;

        var bytes = await ReadAllAsync(await Storage.OpenReadAsync(file, CancellationToken.None));

        file.ContentType.Should().Be("image/jpeg");
        bytes.Should().Equal(await File.ReadAllBytesAsync(source));
    }

    [Theory]
    [InlineData(0, 1L)]
    [InlineData(100, 200L)]
    [InlineData(69_999, 1L)]
    [InlineData(12_345, null)]
    [InlineData(0, 70_000L)]
    public async Task Open_reads_just_the_range_asked(long offset, long? length)
    {
        var task = NewTaskId();
        var source = Scratch("video.mp4", 70_000);
        await Storage.SaveAsync(task, "video.mp4", source, CancellationToken.None);
        var file = (await Storage.FindAsync(task, "video.mp4", CancellationToken.None))!;
        var expected = (await File.ReadAllBytesAsync(source)).AsSpan((int)offset, (int)(length ?? 70_000 - offset)).ToArray();

        var bytes = await ReadAllAsync(await Storage.OpenReadAsync(file, offset, length, CancellationToken.None));

        bytes.Should().Equal(expected);
    }

    [Fact]
    public async Task Save_again_replaces_the_file()
    {
        var task = NewTaskId();
        await Storage.SaveAsync(task, "video.mp4", Scratch("first.mp4", 5000, seed: 1), CancellationToken.None);
        var second = Scratch("second.mp4", 3000, seed: 2);

        await Storage.SaveAsync(task, "video.mp4", second, CancellationToken.None);
        var file = (await Storage.FindAsync(task, "video.mp4", CancellationToken.None))!;

        file.Length.Should().Be(3000);
        (await ReadAllAsync(await Storage.OpenReadAsync(file, CancellationToken.None))).Should().Equal(await File.ReadAllBytesAsync(second));
    }

    [Fact]
    public async Task Find_returns_null_for_a_missing_file_or_task()
    {
        var task = NewTaskId();
        await Storage.SaveAsync(task, "video.mp4", Scratch("video.mp4", 10), CancellationToken.None);

        (await Storage.FindAsync(task, "poster.jpg", CancellationToken.None)).Should().BeNull();
        (await Storage.FindAsync(NewTaskId(), "video.mp4", CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task Delete_removes_every_file_of_the_task_and_only_those()
    {
        var task = NewTaskId();
        var other = NewTaskId();
        await Storage.SaveAsync(task, "video.mp4", Scratch("video.mp4", 100), CancellationToken.None);
        await Storage.SaveAsync(task, "poster.jpg", Scratch("poster.jpg", 100), CancellationToken.None);
        await Storage.SaveAsync(other, "video.mp4", Scratch("other.mp4", 100), CancellationToken.None);

        await Storage.DeleteAsync(task, CancellationToken.None);
        await Storage.DeleteAsync(task, CancellationToken.None);
        await Storage.DeleteAsync(NewTaskId(), CancellationToken.None);

        (await Storage.FindAsync(task, "video.mp4", CancellationToken.None)).Should().BeNull();
        (await Storage.FindAsync(task, "poster.jpg", CancellationToken.None)).Should().BeNull();
        (await Storage.FindAsync(other, "video.mp4", CancellationToken.None)).Should().NotBeNull();
    }

    [Fact]
    public async Task A_file_larger_than_the_multipart_threshold_is_stored_byte_exact()
    {
        var task = NewTaskId();
        var source = Scratch("large.mp4", LargeFileBytes);

        await Storage.SaveAsync(task, "video.mp4", source, CancellationToken.None);
        var file = (await Storage.FindAsync(task, "video.mp4", CancellationToken.None))!;
        await using var stream = await Storage.OpenReadAsync(file, CancellationToken.None);
        var stored = await SHA256.HashDataAsync(stream);

        file.Length.Should().Be(LargeFileBytes);
        Convert.ToHexString(stored).Should().Be(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(source))));
    }

    [Fact]
    public async Task Rejects_names_that_would_escape_the_task()
    {
        var source = Scratch("video.mp4", 10);

        var escape = () => Storage.SaveAsync(NewTaskId(), "../video.mp4", source, CancellationToken.None);

        await escape.Should().ThrowAsync<ArgumentException>();
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _scratch.Dispose();
        }
    }

    [Fact]
    public async Task List_ids_names_each_id_with_files_once_and_only_those_with_the_prefix()
    {
        // A prefix of this test's own, since storages in a fixture are shared between tests.
        var prefix = "lst" + Guid.NewGuid().ToString("N")[..8] + "_";
        var source = Scratch("poster.jpg", 10);
        foreach (var (id, name) in new[] { ("a", "video.mp4"), ("a", "poster.jpg"), ("b", "image.png"), ("c", "video.mp4") })
        {
            await Storage.SaveAsync(prefix + id, name, source, CancellationToken.None);
        }

        await Storage.SaveAsync("other" + prefix, "video.mp4", source, CancellationToken.None);
        await Storage.DeleteAsync(prefix + "c", CancellationToken.None);

        var ids = new List<string>();
        await foreach (var id in Storage.ListIdsAsync(prefix, CancellationToken.None))
        {
            ids.Add(id);
        }

        ids.Should().BeEquivalentTo([prefix + "a", prefix + "b"]);
    }

    private protected string Scratch(string name, long length, int seed = 0)
    {
        var path = Path.Combine(_scratch.Path, Guid.NewGuid().ToString("N") + "-" + name);
        var random = new Random(seed);
        using var file = File.Create(path);
        var buffer = new byte[1 << 16];
        for (long written = 0; written < length; written += buffer.Length)
        {
            random.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(buffer.Length, length - written));
        }

        return path;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }
}
