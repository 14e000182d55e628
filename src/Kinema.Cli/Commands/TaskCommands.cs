using System.CommandLine;
using Kinema.Client;

namespace Kinema.Cli.Commands;

/// <summary><c>kinema status|wait|download|cancel|watch ID</c> and <c>kinema tasks</c>.</summary>
internal static class TaskCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Status();
        yield return Wait();
        yield return Download();
        yield return Cancel();
        yield return Delete();
        yield return Watch();
        yield return List();
    }

    private static Command Status() => WithTask("status", "Show a task.", async (client, id, json, _, ct) =>
    {
        var task = await client.GetAsync(id, ct);
        Print(task, json);
        return ExitCodes.Success;
    });

    private static Command Wait()
    {
        var output = new Option<string?>("--output", "-o") { Description = "Also download the video here." };
        return WithTask("wait", "Wait for a task to end (progress bar on a terminal); optionally download it.", async (client, id, json, result, ct) =>
        {
            var task = await TaskOutput.WaitAsync(client, id, json, ct);
            if (result.GetValue(output) is { } path)
            {
                var saved = await client.DownloadAsync(task, path, ct);
                if (!json)
                {
                    Console.WriteLine($"Saved {saved}");
                }
            }

            Print(task, json);
            return ExitCodes.Success;
        }, output);
    }

    private static Command Download()
    {
        var output = new Option<string?>("--output", "-o") { Description = "Where to save the video (default: <task id>.mp4)." };
        return WithTask("download", "Download a completed task's video.", async (client, id, json, result, ct) =>
        {
            var task = await client.GetAsync(id, ct);
            if (task.Status != "completed")
            {
                await Console.Error.WriteLineAsync($"kinema download: task {id} is {task.Status}, not completed");
                return task.Status is "failed" or "cancelled" ? ExitCodes.TaskFailed : ExitCodes.Usage;
            }

            var saved = await client.DownloadAsync(task, result.GetValue(output) ?? id + ".mp4", ct);
            Console.WriteLine(json ? $"{{\"path\":{System.Text.Json.JsonSerializer.Serialize(saved, CliJsonContext.Default.String)}}}" : $"Saved {saved}");
            return ExitCodes.Success;
        }, output);
    }

    private static Command Cancel() => WithTask("cancel", "Cancel a task that has not ended.", async (client, id, json, _, ct) =>
    {
        Print(await client.CancelAsync(id, ct), json);
        return ExitCodes.Success;
    });

    private static Command Delete() => WithTask("delete", "Delete a task and its video for good (a running task is cancelled first).",
        async (client, id, json, _, ct) =>
        {
            await client.DeleteAsync(id, ct);
            Console.WriteLine(json ? $"{{\"task_id\":{System.Text.Json.JsonSerializer.Serialize(id, CliJsonContext.Default.String)},\"deleted\":true}}" : $"Deleted {id}.");
            return ExitCodes.Success;
        });

    private static Command Watch() => WithTask("watch", "Print a task's changes as they happen, until it ends.", async (client, id, json, _, ct) =>
    {
        Kinema.Contracts.Responses.TaskStatusData? last = null;
        await foreach (var task in client.WatchAsync(id, ct))
        {
            last = task;
            if (json)
            {
                TaskOutput.PrintJson(task);
            }
            else
            {
                Console.WriteLine($"{DateTime.Now:HH:mm:ss}  {task.Status,-10} {task.Progress,3}%");
            }
        }

        return last?.Status == "completed" ? ExitCodes.Success : ExitCodes.TaskFailed;
    });

    private static Command List()
    {
        var status = new Option<string?>("--status") { Description = "Only tasks in this status." };
        var limit = new Option<int>("--limit") { Description = "How many tasks to show.", DefaultValueFactory = _ => 20 };
        limit.Validators.Add(option =>
        {
            if (option.GetValueOrDefault<int>() < 1)
            {
                option.AddError($"--limit must be at least 1, not {option.GetValueOrDefault<int>()}");
            }
        });
        return ClientCommand.Create("tasks", "List your tasks, newest first.", async (client, json, result, ct) =>
        {
            var count = result.GetValue(limit);
            await foreach (var task in client.ListAsync(new TaskListFilter { Status = result.GetValue(status), PageSize = Math.Clamp(count, 1, 100) }, ct))
            {
                if (count-- <= 0)
                {
                    break;
                }

                if (json)
                {
                    TaskOutput.PrintJson(task);
                }
                else
                {
                    Console.WriteLine($"{task.Id}  {task.Status,-10} {task.Progress,3}%  {DateTimeOffset.FromUnixTimeSeconds(task.Created):yyyy-MM-dd HH:mm:ss}  {task.Engine}");
                }
            }

            return ExitCodes.Success;
        }, options: [status, limit]);
    }

    private static void Print(Kinema.Contracts.Responses.TaskStatusData task, bool json)
    {
        if (json)
        {
            TaskOutput.PrintJson(task);
        }
        else
        {
            TaskOutput.PrintHuman(task);
        }
    }

    private static Command WithTask(
        string name, string description, Func<KinemaClient, string, bool, ParseResult, CancellationToken, Task<int>> run, params Option[] extra)
    {
        var id = new Argument<string>("task-id") { Description = "The task id (task_…)." };
        return ClientCommand.Create(name, description, (client, json, result, ct) => run(client, result.GetValue(id)!, json, result, ct), [id], extra);
    }
}
