using System.Text.Json;
using Kinema.Client;
using Kinema.Contracts.Json;
using Kinema.Contracts.Responses;
using Spectre.Console;

namespace Kinema.Cli.Commands;

/// <summary>How client commands print tasks, errors and progress.</summary>
internal static class TaskOutput
{
    public static bool Interactive => !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    public static void PrintJson(TaskStatusData task) =>
        Console.WriteLine(JsonSerializer.Serialize(task, KinemaJsonContext.Wire.TaskStatusData));

    public static void PrintHuman(TaskStatusData task)
    {
        Console.WriteLine($"{task.Id}  {task.Status}  {task.Progress}%  engine={task.Engine ?? "?"}");
        if (task.Error is { } error)
        {
            Console.WriteLine($"  error: {error.Code}: {error.Message}");
        }

        if (task.Result?.Videos.FirstOrDefault() is { } video)
        {
            Console.WriteLine($"  video: {video.Url.FirstOrDefault()}");
            Console.WriteLine($"         {video.Width}x{video.Height}, {video.Duration}s, audio={(video.HasAudio == true ? "yes" : "no")}");
        }
    }

    /// <summary>Maps a client failure to the exit code and prints it.</summary>
    public static int Fail(Exception exception, string command)
    {
        switch (exception)
        {
            case KinemaTaskFailedException failed:
                Console.Error.WriteLine($"kinema {command}: {failed.Message}");
                return ExitCodes.TaskFailed;
            case KinemaException { Status: 0 or 401 or 403 } unreachable:
                Console.Error.WriteLine($"kinema {command}: {unreachable.Message}");
                return ExitCodes.Unreachable;
            case KinemaException { Status: 400 } invalid:
                Console.Error.WriteLine($"kinema {command}: {invalid.Message}");
                return ExitCodes.Usage;
            case KinemaException other:
                Console.Error.WriteLine($"kinema {command}: HTTP {other.Status}: {other.Message}");
                return other.Status == 404 ? ExitCodes.Usage : ExitCodes.TaskFailed;
            default:
                throw exception;
        }
    }

    /// <summary>Waits for a task with a live progress bar when on a terminal, quietly otherwise.</summary>
    public static async Task<TaskStatusData> WaitAsync(KinemaClient client, string taskId, bool quiet, CancellationToken cancellationToken)
    {
        if (quiet || !Interactive)
        {
            return await client.WaitForCompletionAsync(taskId, null, cancellationToken);
        }

        TaskStatusData? final = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var bar = context.AddTask($"{taskId} pending", maxValue: 100);
                try
                {
                    final = await client.WaitForCompletionAsync(taskId, new InlineProgress<TaskStatusData>(task =>
                    {
                        bar.Description = $"{taskId} {task.Status}";
                        bar.Value = task.Progress;
                    }), cancellationToken);
                    bar.Description = $"{taskId} completed";
                    bar.Value = 100;
                }
                finally
                {
                    bar.StopTask();
                }
            });
        return final!;
    }
}

/// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> posts to the thread pool and may reorder).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
