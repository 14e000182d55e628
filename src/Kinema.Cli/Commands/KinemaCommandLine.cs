using System.CommandLine;
using System.CommandLine.Parsing;

namespace Kinema.Cli.Commands;

/// <summary>The <c>kinema</c> command tree.</summary>
internal static class KinemaCommandLine
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Kinema: a self-hosted Kling v3 video-generation API server and its client.")
        {
            ServeCommand.Create(),
            KeysCommand.Create(),
            BackupCommand.Create(),
            ImportCommand.Create(),
            BillingCommands.Tenants(),
            BillingCommands.Credits(),
            BillingCommands.Usage(),
            GenerateCommand.Create(),
            WebhooksCommand.Create(),
        };
        foreach (var command in TaskCommands.Create().Concat(AccountCommands.Create()))
        {
            root.Subcommands.Add(command);
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync($"kinema: {error.Message}");
            }

            await Console.Error.WriteLineAsync("Run 'kinema --help' (or 'kinema <command> --help') for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            // The server's own host handles SIGINT/SIGTERM and drains in-flight work; System.CommandLine's handler
            // would kill the process two seconds after Ctrl-C instead.
            return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Core.Storage.StoreConfigurationException exception)
        {
            await Console.Error.WriteLineAsync($"kinema {CommandPath(parsed)}: {exception.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception exception) when (Core.Storage.KinemaDataStore.FindSchemaTooNew(exception) is { } tooNew)
        {
            await Console.Error.WriteLineAsync(
                $"kinema {CommandPath(parsed)}: {tooNew.Message}; run a Kinema at least that new, or restore a backup taken before the upgrade");
            return ExitCodes.Unreachable;
        }
        catch (Exception exception) when (Core.Storage.KinemaDataStore.DescribeFailure(exception) is { } reason)
        {
            // The commands that open the store directly (keys, tenants, credits, usage): an operator's mistake or an
            // outage (PostgreSQL down, a wrong password or database, a locked file), told in one line, not a stack trace.
            await Console.Error.WriteLineAsync(
                $"kinema {CommandPath(parsed)}: the task store cannot be reached: {reason} (check Kinema:Store:Provider and ConnectionStrings:Kinema)");
            return ExitCodes.Unreachable;
        }
        catch (Exception exception)
        {
            // What System.CommandLine's own handler does, which is off so the store's failures can be told above.
            if (exception is not OperationCanceledException)
            {
                await Console.Error.WriteLineAsync("Unhandled exception: " + exception);
            }

            return ExitCodes.TaskFailed;
        }
    }

    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result.Command is not RootCommand; result = (CommandResult)result.Parent!)
        {
            names.Insert(0, result.Command.Name);
        }

        return string.Join(' ', names);
    }
}
