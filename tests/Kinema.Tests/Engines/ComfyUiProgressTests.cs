using System.Text;
using Kinema.Engines.ComfyUI;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Kinema.Tests.Engines;

public sealed class ComfyUiProgressTests : IAsyncDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly Core.Storage.Sqlite.SqliteDatabase _database;
    private readonly ComfyUiProgress _progress;

    public ComfyUiProgressTests()
    {
        _database = new Core.Storage.Sqlite.SqliteDatabase(new Core.KinemaPaths(_directory.Path).Database, fullSync: false, NullLogger.Instance);
        _progress = new ComfyUiProgress(Options.Create(new ComfyUiOptions { BaseUrl = "http://127.0.0.1:9" }), NullLogger<ComfyUiProgress>.Instance,
            new Core.Storage.Sqlite.SqliteUpstreamTaskStore(_database, TimeProvider.System, new Core.Tasks.TaskChangeFeed()), TimeProvider.System,
            new Core.KinemaPaths(_directory.Path));
    }

    public async ValueTask DisposeAsync()
    {
        _progress.Dispose();
        await _database.DisposeAsync();
        _directory.Dispose();
    }

    private void Hear(string json) => _progress.Handle(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Sampler_steps_become_a_percentage_below_100_until_the_prompt_ends()
    {
        Hear("""{"type":"progress","data":{"value":3,"max":30,"prompt_id":"p1","node":"8"}}""");
        _progress.PercentOf("p1").Should().Be(10);

        Hear("""{"type":"progress","data":{"value":30,"max":30,"prompt_id":"p1","node":"8"}}""");
        _progress.PercentOf("p1").Should().Be(99, "100 is for a task whose video is archived, not a sampler that finished");

        Hear("""{"type":"execution_success","data":{"prompt_id":"p1","timestamp":1}}""");
        _progress.PercentOf("p1").Should().BeNull();
    }

    [Theory]
    [InlineData("""not json""")]
    [InlineData("""[1,2]""")]
    [InlineData("""{"type":"progress","data":{"value":3,"max":0,"prompt_id":"p2"}}""")]
    [InlineData("""{"type":"progress","data":{"value":"3","max":30,"prompt_id":"p2"}}""")]
    [InlineData("""{"type":"progress","data":{"value":3,"max":30,"prompt_id":7}}""")]
    [InlineData("""{"type":"progress","data":{"value":3,"max":30}}""")]
    [InlineData("""{"type":"status","data":{"status":{"exec_info":{"queue_remaining":1}},"sid":"x"}}""")]
    public void Other_and_malformed_events_are_ignored(string json)
    {
        Hear(json);

        _progress.PercentOf("p2").Should().BeNull();
    }

    [Fact]
    public void An_interrupted_or_failed_prompt_is_forgotten()
    {
        Hear("""{"type":"progress","data":{"value":1,"max":4,"prompt_id":"a"}}""");
        Hear("""{"type":"progress","data":{"value":1,"max":4,"prompt_id":"b"}}""");

        Hear("""{"type":"execution_interrupted","data":{"prompt_id":"a","node_id":"8"}}""");
        Hear("""{"type":"execution_error","data":{"prompt_id":"b","node_id":"8","exception_message":"oom"}}""");

        _progress.PercentOf("a").Should().BeNull();
        _progress.PercentOf("b").Should().BeNull();
    }

    [Fact]
    public async Task Heard_progress_is_written_to_the_store_once_per_rise_and_only_for_tracked_prompts()
    {
        using var directory = new TempDirectory();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var database = new Core.Storage.Sqlite.SqliteDatabase(
            new Core.KinemaPaths(directory.Path).Database, fullSync: false, NullLogger.Instance);
        var tasks = new Core.Storage.Sqlite.SqliteTaskStore(database, time, new Core.Tasks.TaskStoreOptions());
        var upstream = new Core.Storage.Sqlite.SqliteUpstreamTaskStore(database, time, new Core.Tasks.TaskChangeFeed());
        var id = (await tasks.CreateAsync(new Core.Tasks.NewTask("t1", "comfyui",
            new Kinema.Contracts.Requests.GenerationRequest { Model = "kling-v3", Prompt = "p" }, null, "h"), CancellationToken.None)).Task!.Id;
        await tasks.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), CancellationToken.None);
        await upstream.RecordSubmittedAsync(id, "w1", new Core.Engines.UpstreamHandle("comfyui", "gpu", "p1"), time.GetUtcNow().AddHours(1), CancellationToken.None);
        var progress = new ComfyUiProgress(Options.Create(new ComfyUiOptions { BaseUrl = "http://127.0.0.1:9" }), NullLogger<ComfyUiProgress>.Instance, upstream, time,
            new Core.KinemaPaths(directory.Path));
        progress.Track("p1", id);
        void Heard(string prompt, int value) => progress.Handle(Encoding.UTF8.GetBytes(
            $$$"""{"type":"progress","data":{"value":{{{value}}},"max":20,"prompt_id":"{{{prompt}}}"}}"""));

        Heard("p1", 5);
        Heard("untracked", 5);
        (await progress.WriteProgressAsync(CancellationToken.None)).Should().Be(1, "a prompt another node queued has no task here");
        (await upstream.FindAsync(id, CancellationToken.None))!.Progress.Should().Be(25);
        (await progress.WriteProgressAsync(CancellationToken.None)).Should().Be(0, "nothing rose since");

        Heard("p1", 6);
        Heard("p1", 12);
        (await progress.WriteProgressAsync(CancellationToken.None)).Should().Be(1, "one write however many steps came in between");
        (await upstream.FindAsync(id, CancellationToken.None))!.Progress.Should().Be(60);

        progress.Handle(Encoding.UTF8.GetBytes("""{"type":"execution_success","data":{"prompt_id":"p1"}}"""));
        Heard("p1", 19);
        (await progress.WriteProgressAsync(CancellationToken.None)).Should().Be(0, "a finished prompt is no longer tracked");
    }

    private ComfyUiProgress ProgressIn(string dataDirectory) =>
        new(Options.Create(new ComfyUiOptions { BaseUrl = "http://127.0.0.1:9" }), NullLogger<ComfyUiProgress>.Instance,
            new Core.Storage.Sqlite.SqliteUpstreamTaskStore(_database, TimeProvider.System, new Core.Tasks.TaskChangeFeed()), TimeProvider.System,
            new Core.KinemaPaths(dataDirectory));

    [Fact]
    public void The_client_id_is_kept_in_the_data_directory_and_the_same_after_a_restart()
    {
        using var directory = new TempDirectory();
        using var otherNode = new TempDirectory();
        using var first = ProgressIn(directory.Path);
        using var again = ProgressIn(directory.Path);
        using var elsewhere = ProgressIn(otherNode.Path);

        first.ClientId.Should().MatchRegex("^kinema-[0-9a-f]{32}$");
        again.ClientId.Should().Be(first.ClientId, "ComfyUI sends a prompt's progress only to the client id it was queued under");
        elsewhere.ClientId.Should().NotBe(first.ClientId, "each node has its own socket at ComfyUI");
        File.ReadAllText(new Core.KinemaPaths(directory.Path).ComfyUiClientId).Trim().Should().Be(first.ClientId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("kinema-XYZ")]
    [InlineData("someone else's id with spaces")]
    public void A_damaged_client_id_file_is_replaced_with_a_new_id(string content)
    {
        using var directory = new TempDirectory();
        var path = new Core.KinemaPaths(directory.Path).ComfyUiClientId;
        File.WriteAllText(path, content);

        using var progress = ProgressIn(directory.Path);

        progress.ClientId.Should().MatchRegex("^kinema-[0-9a-f]{32}$");
        File.ReadAllText(path).Trim().Should().Be(progress.ClientId);
    }

    [Fact]
    public void A_data_directory_that_cannot_be_written_still_gives_a_client_id()
    {
        using var directory = new TempDirectory();
        var blocked = Path.Combine(directory.Path, "not-a-directory");
        File.WriteAllText(blocked, "a file where the data directory should be");

        using var progress = ProgressIn(blocked);

        progress.ClientId.Should().MatchRegex("^kinema-[0-9a-f]{32}$");
    }
}
