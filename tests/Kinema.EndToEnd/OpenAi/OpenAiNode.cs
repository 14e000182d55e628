using System.Diagnostics;
using System.Text.Json;
using Kinema.Testing;

namespace Kinema.EndToEnd.OpenAi;

/// <summary>Runs <c>openai-client.mjs</c>: the official <c>openai</c> npm package, unchanged, against a Kinema server.</summary>
internal sealed class OpenAiNode(Uri server, string apiKey)
{
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "OpenAi", "openai-client.mjs");
    private static readonly string Module = Path.Combine(NodeModules.Find("openai"), "openai", "index.mjs");

    /// <summary>Runs one command; its JSON answer (an <c>error</c> object when the SDK threw).</summary>
    public async Task<JsonElement> RunAsync(string command, object? args = null)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Script);
        start.ArgumentList.Add(command);
        start.ArgumentList.Add(JsonSerializer.Serialize(args ?? new { }));
        start.Environment["OPENAI_MODULE"] = Module;
        start.Environment["OPENAI_BASE_URL"] = new Uri(server, "/v1").ToString();
        start.Environment["OPENAI_API_KEY"] = apiKey;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        var text = await output;
        if (process.ExitCode != 0 || text.Length == 0)
        {
            throw new InvalidOperationException($"node {command} exited {process.ExitCode}: {await error}{text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Runs a command the SDK must complete; fails the test with the SDK's error otherwise.</summary>
    public async Task<JsonElement> SucceedAsync(string command, object? args = null)
    {
        var result = await RunAsync(command, args);
        if (result.ValueKind == JsonValueKind.Object && result.TryGetProperty("error", out var failure) && failure.ValueKind == JsonValueKind.Object)
        {
            throw new InvalidOperationException($"the SDK's {command} threw: {failure}");
        }

        return result;
    }

    /// <summary>Runs a command the SDK must refuse; the error it threw.</summary>
    public async Task<JsonElement> FailAsync(string command, object? args = null)
    {
        var result = await RunAsync(command, args);
        result.TryGetProperty("error", out var failure).Should().BeTrue($"the SDK's {command} should have thrown, but returned {result}");
        return failure;
    }
}
