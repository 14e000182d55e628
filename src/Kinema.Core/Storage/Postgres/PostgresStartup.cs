using Microsoft.Extensions.Hosting;

namespace Kinema.Core.Storage.Postgres;

/// <summary>Applies migrations and loads the shared signing key before the workers and the HTTP server start.</summary>
internal sealed class PostgresStartup(PostgresDatabase database, SigningKey signingKey) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await database.EnsureSchemaAsync(cancellationToken);
        await Task.Run(() => signingKey.Value, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
