namespace Kinema.Core.Engines;

/// <summary>Turns one validated request into a video. One implementation per engine project.</summary>
public interface IVideoEngine : IEngine
{
    /// <summary>Renders the job into <see cref="EngineJob.WorkingDirectory"/>, reporting progress 0–100.</summary>
    /// <exception cref="EngineFailureException">The task cannot be made; the message is shown to the client.</exception>
    Task<RenderedVideo> RenderAsync(EngineJob job, CancellationToken cancellationToken);
}
