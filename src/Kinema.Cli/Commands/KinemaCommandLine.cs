using System.CommandLine;

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

        // The server's own host handles SIGINT/SIGTERM and drains in-flight work; System.CommandLine's handler
        // would kill the process two seconds after Ctrl-C instead.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }
}
