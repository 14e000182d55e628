namespace Kinema.Core.Diagnostics;

/// <summary>Tags of health checks, so a plug-in (an engine, a store) can add its own check to readiness.</summary>
public static class HealthTags
{
    /// <summary>Checks that <c>/readyz</c> runs: the node can do its work.</summary>
    public const string Ready = "ready";
}
