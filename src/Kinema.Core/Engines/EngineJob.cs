using Kinema.Contracts.Requests;
using Kinema.Core.Fetching;

namespace Kinema.Core.Engines;

/// <summary>Everything an engine needs for one task.</summary>
/// <param name="TaskId">The task id, for file names and logs.</param>
/// <param name="Request">The validated request.</param>
/// <param name="WorkingDirectory">An empty directory the engine owns for this attempt.</param>
/// <param name="Images">Fetches <c>image_urls</c> and element images safely.</param>
/// <param name="Progress">Receives 0–100 while rendering.</param>
public sealed record EngineJob(
    string TaskId,
    GenerationRequest Request,
    string WorkingDirectory,
    IImageSource Images,
    IProgress<int> Progress);
