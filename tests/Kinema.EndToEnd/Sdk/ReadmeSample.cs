using Kinema.Client;

namespace Kinema.EndToEnd.Sdk;

/// <summary>The README's SDK snippet, compiled and run by <see cref="SdkTests"/> so the README stays true.</summary>
internal static class ReadmeSample
{
    public static async Task<string> RunAsync(Uri server, string apiKey, string outputPath)
    {
        // README:BEGIN
        using var kinema = new KinemaClient(new KinemaClientOptions { BaseAddress = server, ApiKey = apiKey });

        var request = GenerationRequests.TextToVideo("a golden retriever running on the beach, sunset", duration: 5) with { Audio = true };
        var operation = await kinema.CreateAsync(request, idempotencyKey: Guid.NewGuid().ToString());
        var task = await operation.WaitForCompletionAsync(new Progress<Kinema.Contracts.Responses.TaskStatusData>(
            t => Console.WriteLine($"{t.Status} {t.Progress}%")));
        var path = await kinema.DownloadAsync(task, outputPath);
        // README:END
        return path;
    }
}
