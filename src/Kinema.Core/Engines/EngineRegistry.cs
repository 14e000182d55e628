namespace Kinema.Core.Engines;

/// <summary>The engines this node can run, by name.</summary>
public sealed class EngineRegistry(IEnumerable<IVideoEngine> renderers, IEnumerable<IUpstreamEngine> upstreams)
{
    private readonly Dictionary<string, IEngine> _byName = renderers.Cast<IEngine>().Concat(upstreams)
        .ToDictionary(engine => engine.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The engine with this name, or null when it is not configured here.</summary>
    public IEngine? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>True when any remote-service engine is configured (the poller has work only then).</summary>
    public bool HasUpstreams { get; } = upstreams.Any();

    /// <summary>Every engine's name.</summary>
    public IReadOnlyCollection<string> Names => _byName.Keys;
}
