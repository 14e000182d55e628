using Kinema.Core;
using Kinema.Core.Tenants;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kinema.Server;

/// <summary>
/// Makes the first API key when the store has none (on several nodes, exactly one of them does) and saves it to
/// <c>cli.key</c>. It runs as the host starts, before Kestrel listens: whoever sees the server answer can read the file.
/// </summary>
public sealed partial class FirstApiKey(IApiKeyStore keys, KinemaPaths paths, ILogger<FirstApiKey> logger) : IHostedService
{
    /// <summary>The key made at this start, shown once by <c>kinema serve</c>; null when the store already had keys.</summary>
    public CreatedApiKey? Created { get; private set; }

    /// <summary>
    /// Why <see cref="Created"/> could not be saved to <c>cli.key</c>, or null when it was (or no key was made). The key
    /// is in the store by then, and later starts make no other: it must still reach the operator, so the start goes on.
    /// </summary>
    public string? NotSavedBecause { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await keys.CreateFirstAsync(new NewApiKey("default", "default"), cancellationToken) is not { } created)
        {
            return;
        }

        Created = created;
        try
        {
            SecretFile.Write(paths.CliKey, System.Text.Encoding.UTF8.GetBytes(created.Key + "\n"));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            NotSavedBecause = exception.Message;
            LogNotSaved(logger, paths.CliKey, created.Record.Id, exception);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The first API key ({KeyId}) could not be saved to {Path}; it is shown once on the console. Without it, make another with 'kinema keys create' on this store")]
    private static partial void LogNotSaved(ILogger logger, string path, string keyId, Exception exception);
}
