using Kinema.Core;
using Kinema.Core.Tenants;
using Microsoft.Extensions.Hosting;

namespace Kinema.Server;

/// <summary>
/// Makes the first API key when the store has none (on several nodes, exactly one of them does) and saves it to
/// <c>cli.key</c>. It runs as the host starts, before Kestrel listens: whoever sees the server answer can read the file.
/// </summary>
public sealed class FirstApiKey(IApiKeyStore keys, KinemaPaths paths) : IHostedService
{
    /// <summary>The key made at this start, shown once by <c>kinema serve</c>; null when the store already had keys.</summary>
    public CreatedApiKey? Created { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await keys.CreateFirstAsync(new NewApiKey("default", "default"), cancellationToken) is { } created)
        {
            SecretFile.Write(paths.CliKey, System.Text.Encoding.UTF8.GetBytes(created.Key + "\n"));
            Created = created;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
