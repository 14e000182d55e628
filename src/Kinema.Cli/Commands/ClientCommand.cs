using System.CommandLine;
using Kinema.Client;

namespace Kinema.Cli.Commands;

/// <summary>A command that talks to a server: the connection options, a client, and errors turned into exit codes.</summary>
internal static class ClientCommand
{
    public static Command Create(
        string name, string description, Func<KinemaClient, bool, ParseResult, CancellationToken, Task<int>> run, IEnumerable<Argument>? arguments = null, IEnumerable<Option>? options = null)
    {
        var connection = new Connection();
        var command = new Command(name, description);
        foreach (var argument in arguments ?? [])
        {
            command.Arguments.Add(argument);
        }

        foreach (var option in options ?? [])
        {
            command.Options.Add(option);
        }

        connection.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var (client, problem) = connection.CreateClient(result);
            if (client is null)
            {
                await Console.Error.WriteLineAsync($"kinema {name}: {problem}");
                return ExitCodes.Unreachable;
            }

            using (client)
            {
                try
                {
                    return await run(client, result.GetValue(connection.Json), result, ct);
                }
                catch (KinemaException exception)
                {
                    return TaskOutput.Fail(exception, name);
                }
            }
        });
        return command;
    }
}
