using System.CommandLine;
using Kinema.Client;
using Kinema.Contracts.Requests;
using Kinema.Core;

namespace Kinema.Cli.Commands;

/// <summary>
/// Where the client commands connect: <c>--server</c>/<c>--key</c>, else <c>KINEMA_URL</c>/<c>KINEMA_API_KEY</c>, else
/// the local server with the key <c>serve</c> saved on first start, so a new user needs no flags at all.
/// </summary>
internal sealed class Connection
{
    public const string DefaultServer = "http://127.0.0.1:8080";

    public Option<string?> Server { get; } = new("--server") { Description = $"Server URL (default: $KINEMA_URL, else {DefaultServer})." };
    public Option<string?> Key { get; } = new("--key") { Description = "API key (default: $KINEMA_API_KEY, else the key saved by 'kinema serve')." };
    public Option<string?> Data { get; } = CommonOptions.Data();
    public Option<bool> Json { get; } = new("--json") { Description = "Print machine-readable JSON." };

    public Option<string?> Language { get; } = CreateLanguage();

    public void AddTo(Command command)
    {
        command.Options.Add(Server);
        command.Options.Add(Key);
        command.Options.Add(Data);
        command.Options.Add(Json);
        command.Options.Add(Language);
    }

    /// <summary>The client, or a message saying how to give a key.</summary>
    public (KinemaClient? Client, string? Problem) CreateClient(ParseResult result)
    {
        var (baseAddress, key, problem) = Resolve(result);
        return problem is not null
            ? (null, problem)
            : (new KinemaClient(new KinemaClientOptions
            {
                BaseAddress = baseAddress!,
                ApiKey = key!,
                MaxRetries = 2,
                Language = result.GetValue(Language),
            }), null);
    }

    private static Option<string?> CreateLanguage()
    {
        var option = new Option<string?>("--language") { Description = "The language of the server's messages about a task: en (default), zh, ko or ja." };
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string?>();
            if (value is not null && !MessageLanguages.IsKnown(value))
            {
                result.AddError($"--language must be one of {string.Join(", ", MessageLanguages.All)}, not '{value}'");
            }
        });
        return option;
    }

    /// <summary>The server and key to use, or a message saying what is missing.</summary>
    public (Uri? BaseAddress, string? Key, string? Problem) Resolve(ParseResult result)
    {
        var server = result.GetValue(Server) ?? Environment.GetEnvironmentVariable("KINEMA_URL") ?? DefaultServer;
        if (!Uri.TryCreate(server.EndsWith('/') ? server : server + "/", UriKind.Absolute, out var baseAddress)
            || baseAddress.Scheme is not ("http" or "https"))
        {
            return (null, null, $"--server must be an http(s) URL, not '{server}'");
        }

        var key = result.GetValue(Key) ?? Environment.GetEnvironmentVariable("KINEMA_API_KEY");
        if (string.IsNullOrWhiteSpace(key))
        {
            var saved = KinemaPaths.Resolve(result.GetValue(Data)).CliKey;
            if (File.Exists(saved))
            {
                key = File.ReadAllText(saved).Trim();
            }
        }

        return string.IsNullOrWhiteSpace(key)
            ? (null, null, "no API key: pass --key, set KINEMA_API_KEY, or start a local server once with 'kinema serve'")
            : (baseAddress, key, null);
    }
}
