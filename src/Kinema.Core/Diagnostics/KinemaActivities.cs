using System.Diagnostics;

namespace Kinema.Core.Diagnostics;

/// <summary>
/// The <c>Kinema</c> activity source: spans for a render and for an upstream submit and poll. An
/// <see cref="ActivitySource"/> has no factory in dependency injection and costs nothing while no listener (exporter)
/// subscribes, so it is a static, as the .NET guidance suggests.
/// </summary>
public static class KinemaActivities
{
    /// <summary>The source's name, for tracers to subscribe to.</summary>
    public const string SourceName = "Kinema";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts a span about one task; null when nobody listens.</summary>
    internal static Activity? StartTaskActivity(string name, string taskId, string engine, ActivityKind kind = ActivityKind.Internal)
    {
        var activity = Source.StartActivity(name, kind);
        activity?.SetTag("kinema.task_id", taskId);
        activity?.SetTag("kinema.engine", engine);
        return activity;
    }

    /// <summary>Marks a span failed with a stable code.</summary>
    internal static void Fail(this Activity? activity, string code) =>
        activity?.SetStatus(ActivityStatusCode.Error, code);
}
