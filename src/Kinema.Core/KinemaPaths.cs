namespace Kinema.Core;

/// <summary>Where a Kinema node keeps its files, all under one data directory.</summary>
public sealed record KinemaPaths(string DataDirectory)
{
    /// <summary>The SQLite database.</summary>
    public string Database => Path.Combine(DataDirectory, "kinema.db");
    /// <summary>Result files.</summary>
    public string Results => Path.Combine(DataDirectory, "results");
    /// <summary>Scratch space of renders in progress.</summary>
    public string Work => Path.Combine(DataDirectory, "work");
    /// <summary>Scratch of requests in progress (an upload on its way to storage, a derived file being made).</summary>
    public string RequestScratch => Path.Combine(Work, "requests");
    /// <summary>The secret that signs result URLs.</summary>
    public string SigningKey => Path.Combine(DataDirectory, "signing.key");
    /// <summary>The key <c>serve</c> made on first start, for the CLI on this machine.</summary>
    public string CliKey => Path.Combine(DataDirectory, "cli.key");
    /// <summary>The client id this node's ComfyUI engine queues prompts under, kept so a restart hears their progress again.</summary>
    public string ComfyUiClientId => Path.Combine(DataDirectory, "comfyui-client-id");
    /// <summary>
    /// Left by <c>kinema import</c> once the directory's store is in PostgreSQL: <c>serve</c> on SQLite refuses the
    /// directory then, since tasks accepted there would never reach the nodes that now serve its clients.
    /// </summary>
    public string ImportedMarker => Path.Combine(DataDirectory, "imported-to-postgres");
    /// <summary>Held while a server runs, so two servers never share one SQLite file.</summary>
    public string LockFile => Path.Combine(DataDirectory, "kinema.lock");

    /// <summary>Resolves the data directory: an explicit value, else <c>KINEMA_DATA</c>, else <c>./.kinema</c>.</summary>
    public static KinemaPaths Resolve(string? explicitDirectory)
    {
        var directory = !string.IsNullOrWhiteSpace(explicitDirectory)
            ? explicitDirectory
            : Environment.GetEnvironmentVariable("KINEMA_DATA") is { Length: > 0 } fromEnvironment
                ? fromEnvironment
                : ".kinema";
        return new KinemaPaths(Path.GetFullPath(directory));
    }
}
