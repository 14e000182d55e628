namespace Kinema.Core.Engines;

/// <summary>The engines this node can run, by name.</summary>
public sealed class EngineRegistry(IEnumerable<IVideoEngine> engines)
{
    private readonly Dictionary<string, IVideoEngine> _byName =
        engines.ToDictionary(engine => engine.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The engine with this name, or null when it is not configured here.</summary>
    public IVideoEngine? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Every engine's name.</summary>
    public IReadOnlyCollection<string> Names => _byName.Keys;
}
