using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd.Storage;

/// <summary>
/// Files a failed or cancelled task left in the result storage (its end could not remove them: the storage was out of
/// reach then, or the node died between the save and the removal) are swept by every node, on both store providers
/// and both storages; files of tasks still going, completed, or unknown to this deployment's store are kept.
/// </summary>
public sealed class OrphanedResultsTests
{
    private const string Body = """{"model":"kling-v3","prompt":"a lighthouse whose video outlived its task","duration":3}""";

    [Theory]
    [InlineData("sqlite", "disk")]
    [InlineData("postgres", "s3")]
    public async Task Files_of_failed_and_cancelled_tasks_are_swept_and_every_other_tasks_files_are_kept(string store, string storage)
    {
        S3rverProcess? s3 = null;
        string? database = null;
        var settings = new Dictionary<string, string?>
        {
            // The tasks are moved through their lives by hand, so no worker may take them.
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:Storage:OrphanSweepInterval"] = "00:00:01",
        };
        try
        {
            if (store == "postgres")
            {
                database = await TestPostgres.CreateDatabaseAsync();
                settings["Kinema:Store:Provider"] = "postgres";
                settings["ConnectionStrings:Kinema"] = database;
            }

            if (storage == "s3")
            {
                s3 = await S3rverProcess.StartAsync();
                foreach (var (key, value) in s3.KinemaSettings())
                {
                    settings[key] = value;
                }
            }

            await using var server = await KinemaTestServer.StartAsync(settings);
            var tasks = server.Services.GetRequiredService<ITaskStore>();
            var results = server.Services.GetRequiredService<IResultStorage>();

            // Claims take the oldest pending task, so each is created just before it is moved on.
            var failed = await server.Bob.CreateAsync(Body);
            (await tasks.ClaimNextAsync("test-worker", TimeSpan.FromMinutes(1), CancellationToken.None))!.Id.Should().Be(failed);
            (await tasks.FailAsync(failed, "test-worker", new TaskFailure("internal_error", "failed by the test"), CancellationToken.None)).Should().BeTrue();
            var completed = await server.Alice.CreateAsync(Body);
            (await tasks.ClaimNextAsync("test-worker", TimeSpan.FromMinutes(1), CancellationToken.None))!.Id.Should().Be(completed);
            (await tasks.CompleteAsync(completed, "test-worker", new StoredResult { VideoName = "video.mp4" }, CancellationToken.None)).Should().BeTrue();
            var cancelled = await server.Alice.CreateAsync(Body);
            using (var cancel = await server.Alice.PostAsync($"/v1/tasks/{cancelled}/cancel", null))
            {
                cancel.IsSuccessStatusCode.Should().BeTrue(await cancel.Content.ReadAsStringAsync());
            }

            var pending = await server.Alice.CreateAsync(Body);
            var unknown = TaskIds.New(DateTimeOffset.UtcNow);

            var source = Path.Combine(server.Paths.DataDirectory, "planted.mp4");
            await File.WriteAllBytesAsync(source, new byte[4096]);
            foreach (var id in new[] { failed, completed, cancelled, pending, unknown })
            {
                await results.SaveAsync(id, "video.mp4", source, CancellationToken.None);
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (await results.FindAsync(failed, "video.mp4", CancellationToken.None) is not null
                   || await results.FindAsync(cancelled, "video.mp4", CancellationToken.None) is not null)
            {
                DateTime.UtcNow.Should().BeBefore(deadline, "a sweep runs every second and should have deleted the failed and cancelled tasks' files");
                await Task.Delay(200);
            }

            // A background pass may have listed the storage before the last files were planted: one more pass, run
            // here, has seen them all and finds nothing left to delete.
            (await server.Services.GetRequiredService<OrphanedResultsJanitor>().SweepAsync(CancellationToken.None)).Should().Be(0);
            (await results.FindAsync(completed, "video.mp4", CancellationToken.None)).Should().NotBeNull("a completed task's video is its result");
            (await results.FindAsync(pending, "video.mp4", CancellationToken.None)).Should().NotBeNull("a task still going owns its files");
            (await results.FindAsync(unknown, "video.mp4", CancellationToken.None)).Should().NotBeNull(
                "a task this store does not hold may be another deployment's on a shared bucket");
            (await server.Alice.GetTaskAsync(completed)).GetProperty("status").GetString().Should().Be("completed");
        }
        finally
        {
            if (s3 is not null)
            {
                await s3.DisposeAsync();
            }

            if (database is not null)
            {
                await TestPostgres.DropDatabaseAsync(database);
            }
        }
    }
}
