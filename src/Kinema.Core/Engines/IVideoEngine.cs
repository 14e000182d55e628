namespace Kinema.Core.Engines;

/// <summary>Turns one validated request into a video. One implementation per engine project.</summary>
public interface IVideoEngine
{
    /// <summary>The name a task records as the engine that made it, e.g. <c>animatic</c>.</summary>
    string Name { get; }

    /// <summary>Renders the job into <see cref="EngineJob.WorkingDirectory"/>, reporting progress 0–100.</summary>
    /// <exception cref="EngineFailureException">The task cannot be made; the message is shown to the client.</exception>
    Task<RenderedVideo> RenderAsync(EngineJob job, CancellationToken cancellationToken);
}
