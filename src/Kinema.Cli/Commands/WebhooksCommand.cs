using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Kinema.Contracts.Json;

namespace Kinema.Cli.Commands;

/// <summary><c>kinema webhooks add|list|remove|deliveries|replay|secret</c>: the /v1/webhooks routes from a terminal.</summary>
internal static class WebhooksCommand
{
    public static Command Create()
    {
        var webhooks = new Command("webhooks", "Manage webhook endpoints and see (and replay) their deliveries.");
        webhooks.Subcommands.Add(Add());
        webhooks.Subcommands.Add(Simple("list", "List endpoints.", HttpMethod.Get, _ => "v1/webhooks"));
        webhooks.Subcommands.Add(WithId("remove", "Remove an endpoint.", HttpMethod.Delete, id => $"v1/webhooks/{Uri.EscapeDataString(id)}"));
        webhooks.Subcommands.Add(Simple("deliveries", "List recent deliveries, newest first.", HttpMethod.Get, _ => "v1/webhooks/deliveries"));
        webhooks.Subcommands.Add(WithId("replay", "Send a delivery again (same webhook-id).", HttpMethod.Post, id => $"v1/webhooks/deliveries/{Uri.EscapeDataString(id)}/replay"));
        webhooks.Subcommands.Add(Simple("secret", "Show the secret that signs per-task callback_url webhooks.", HttpMethod.Get, _ => "v1/webhooks/default/secret"));
        return webhooks;
    }

    private static Command Add()
    {
        var connection = new Connection();
        var url = new Argument<string>("url") { Description = "Where to POST events." };
        var events = new Option<string?>("--events") { Description = "Comma-separated: task.completed,task.failed,task.cancelled,video.completed,video.failed (default all)." };
        var command = new Command("add", "Add an endpoint; its signing secret is printed once.") { url, events };
        connection.AddTo(command);
        command.SetAction((result, ct) => SendAsync(connection, result, HttpMethod.Post, "v1/webhooks", JsonSerializer.Serialize(new AddBody(
            result.GetValue(url)!,
            result.GetValue(events)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)), CliJsonContext.Default.AddBody), ct));
        return command;
    }

    private static Command Simple(string name, string description, HttpMethod method, Func<ParseResult, string> path)
    {
        var connection = new Connection();
        var command = new Command(name, description);
        connection.AddTo(command);
        command.SetAction((result, ct) => SendAsync(connection, result, method, path(result), null, ct));
        return command;
    }

    private static Command WithId(string name, string description, HttpMethod method, Func<string, string> path)
    {
        var connection = new Connection();
        var id = new Argument<string>("id");
        var command = new Command(name, description) { id };
        connection.AddTo(command);
        command.SetAction((result, ct) => SendAsync(connection, result, method, path(result.GetValue(id)!), null, ct));
        return command;
    }

    private static async Task<int> SendAsync(Connection connection, ParseResult result, HttpMethod method, string path, string? body, CancellationToken ct)
    {
        var (server, key, problem) = connection.Resolve(result);
        if (problem is not null)
        {
            await Console.Error.WriteLineAsync($"kinema webhooks: {problem}");
            return ExitCodes.Unreachable;
        }

        using var http = new HttpClient { BaseAddress = server };
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        try
        {
            using var response = await http.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                await Console.Error.WriteLineAsync($"kinema webhooks: HTTP {(int)response.StatusCode}: {ErrorMessage(text)}");
                return (int)response.StatusCode is 401 or 403 ? ExitCodes.Unreachable : ExitCodes.Usage;
            }

            Console.WriteLine(text.Length == 0 ? "ok" : text);
            return ExitCodes.Success;
        }
        catch (HttpRequestException exception)
        {
            await Console.Error.WriteLineAsync($"kinema webhooks: cannot reach {server}: {exception.Message}");
            return ExitCodes.Unreachable;
        }
    }

    /// <summary>The message of the contract's error envelope (its first rule when there are several), or the body as sent.</summary>
    private static string ErrorMessage(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, KinemaJsonContext.Wire.ErrorResponse)?.Error is { } error
                ? error.Param is { } param && !error.Message.Contains(param, StringComparison.Ordinal) ? $"{param}: {error.Message}" : error.Message
                : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}

internal sealed record AddBody(string Url, string[]? Events);
