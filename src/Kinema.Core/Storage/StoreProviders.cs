using Microsoft.Extensions.Configuration;

namespace Kinema.Core.Storage;

/// <summary>Which database keeps the tasks: <c>Kinema:Store:Provider</c> and the standard <c>ConnectionStrings:Kinema</c>.</summary>
public static class StoreProviders
{
    /// <summary>The embedded default: one SQLite file in the data directory.</summary>
    public const string Sqlite = "sqlite";

    /// <summary>A PostgreSQL database shared by several nodes.</summary>
    public const string Postgres = "postgres";

    /// <summary>The key naming the provider.</summary>
    public const string ProviderKey = "Kinema:Store:Provider";

    /// <summary>The connection string's name under <c>ConnectionStrings</c>.</summary>
    public const string ConnectionStringName = "Kinema";

    /// <summary>True when the configuration asks for PostgreSQL.</summary>
    public static bool IsPostgres(IConfiguration configuration) =>
        string.Equals(configuration[ProviderKey], Postgres, StringComparison.OrdinalIgnoreCase);

    /// <summary>The configured connection string, or null.</summary>
    public static string? ConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } value ? value : null;
}
