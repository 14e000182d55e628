namespace Kinema.Core.Engines;

/// <summary>Model → ordered engine list (<c>Kinema:Models:{model}:Engines</c>).</summary>
public sealed class ModelRoutingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Models";

    /// <summary>Per model, the engines to try in order.</summary>
    public Dictionary<string, ModelRoute> Models { get; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>The engines one model goes to.</summary>
public sealed class ModelRoute
{
    /// <summary>Engine names in order of preference.</summary>
    public List<string> Engines { get; } = [];
}

/// <summary>Decides which engine makes a model's task.</summary>
public sealed class EngineRouter(EngineRegistry registry, ModelRoutingOptions routing)
{
    /// <summary>The built-in engine, used when nothing else is configured.</summary>
    public const string DefaultEngine = "animatic";

    /// <summary>The engines to try for a model, in order; only engines this node has.</summary>
    public IReadOnlyList<string> EnginesFor(string model)
    {
        if (routing.Models.TryGetValue(model, out var route) && route.Engines.Count > 0)
        {
            return route.Engines.Where(name => registry.Find(name) is not null).ToList();
        }

        // No list given: the real model first (kling, then a relay), then open models on the operator's GPU; the built-in
        // preview only when none is set up.
        var upstreams = new[] { "kling", "apimart", "comfyui" }.Where(name => registry.Find(name) is IUpstreamEngine).ToList();
        if (upstreams.Count > 0)
        {
            return upstreams;
        }

        return registry.Find(DefaultEngine) is not null ? [DefaultEngine] : [];
    }
}
