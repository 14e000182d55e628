using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Tasks;

/// <summary>Where and how tasks are kept (<c>Kinema:Store</c>).</summary>
public sealed class TaskStoreOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Store";

    /// <summary><c>sqlite</c> (one file in the data directory) or <c>postgres</c> (<c>ConnectionStrings:Kinema</c>, shared by several nodes).</summary>
    [RegularExpression("^(?i)(sqlite|postgres)$", ErrorMessage = "Kinema:Store:Provider must be 'sqlite' or 'postgres'.")]
    public string Provider { get; set; } = Storage.StoreProviders.Sqlite;

    /// <summary>fsync every commit (survives power loss). Group commit keeps this cheap.</summary>
    public bool FullSync { get; set; } = true;

    /// <summary>How many times a task may be taken by a worker that then dies before it is failed.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;
}

/// <summary>PostgreSQL needs its connection string: say so at start-up, naming the key, rather than at the first task.</summary>
internal sealed class TaskStoreOptionsValidator(Microsoft.Extensions.Configuration.IConfiguration configuration) : IValidateOptions<TaskStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, TaskStoreOptions options)
    {
        if (string.Equals(options.Provider, Storage.StoreProviders.Postgres, StringComparison.OrdinalIgnoreCase)
            && Storage.StoreProviders.ConnectionString(configuration) is null)
        {
            return ValidateOptionsResult.Fail(
                "Kinema:Store:Provider is 'postgres' but ConnectionStrings:Kinema (environment: ConnectionStrings__Kinema) is not set.");
        }

        if (Storage.StoreProviders.ConnectionString(configuration) is { } connectionString
            && string.Equals(options.Provider, Storage.StoreProviders.Postgres, StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            }
            catch (ArgumentException exception)
            {
                return ValidateOptionsResult.Fail($"ConnectionStrings:Kinema is not a valid PostgreSQL connection string: {exception.Message}");
            }
        }

        return ValidateOptionsResult.Success;
    }
}
