using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;

namespace Kinema.Core.Engines;

/// <summary>
/// An engine whose videos are made by a remote service: submit once, poll until done, cancel where the service allows.
/// Kinema persists the intent before <see cref="SubmitAsync"/> and asks <see cref="FindAsync"/> after a crash, so one
/// task is never submitted (nor billed) twice.
/// </summary>
public interface IUpstreamEngine : IEngine
{
    /// <summary>The credentials' account label, recorded on the task so every follow-up goes to the same account.</summary>
    string Account { get; }

    /// <summary>Fields of the request this upstream cannot honour; the create is refused with them (400).</summary>
    IReadOnlyList<RuleViolation> Unsupported(GenerationRequest request);

    /// <summary>The upstream task made earlier for this Kinema task (looked up by its external id), or null when none exists.</summary>
    Task<UpstreamHandle?> FindAsync(UpstreamJob job, CancellationToken cancellationToken);

    /// <summary>Submits the task upstream.</summary>
    /// <exception cref="UpstreamException">The upstream refused or could not be reached; its kind says whether to fail over.</exception>
    Task<UpstreamHandle> SubmitAsync(UpstreamJob job, CancellationToken cancellationToken);

    /// <summary>The upstream task's state.</summary>
    Task<UpstreamStatus> PollAsync(UpstreamHandle handle, CancellationToken cancellationToken);

    /// <summary>Asks the upstream to stop the task; false when it offers no way to.</summary>
    Task<bool> CancelAsync(UpstreamHandle handle, CancellationToken cancellationToken);

    /// <summary>
    /// True when a task this upstream reports lost (<see cref="UpstreamErrorKind.NotFound"/> at a poll) is submitted
    /// again rather than failed. Only for an upstream that forgets its tasks when it restarts and bills nothing for a
    /// second submission, as a self-hosted ComfyUI: a paid service that says "not found" has lost the task for good,
    /// and sending it again could charge twice.
    /// </summary>
    bool ResubmitsLostTasks => false;
}

/// <summary>What every engine has: a name tasks record.</summary>
public interface IEngine
{
    /// <summary>The name a task records as the engine that made it.</summary>
    string Name { get; }
}

/// <summary>One task to submit upstream.</summary>
/// <param name="TaskId">Kinema's task id, sent as the upstream's external id where it has one.</param>
/// <param name="Request">The validated request.</param>
/// <param name="CallbackUrl">Where the upstream may notify Kinema, when Kinema has a public base URL.</param>
/// <param name="Images">Loads data URIs and URLs when the upstream needs the bytes.</param>
public sealed record UpstreamJob(string TaskId, GenerationRequest Request, Uri? CallbackUrl, Fetching.IImageSource Images);

/// <summary>Where a task lives upstream: the engine, the account and the upstream's own id. Pinned for the task's life.</summary>
public sealed record UpstreamHandle(string Engine, string Account, string UpstreamId);

/// <summary>An upstream task's state.</summary>
public sealed record UpstreamStatus
{
    /// <summary>Where it is.</summary>
    public required UpstreamState State { get; init; }
    /// <summary>0–100 when the upstream reports it.</summary>
    public int? Progress { get; init; }
    /// <summary>The result videos when succeeded.</summary>
    public IReadOnlyList<Uri> VideoUrls { get; init; } = [];
    /// <summary>A cover image when the upstream makes one.</summary>
    public Uri? CoverUrl { get; init; }
    /// <summary>A stable failure code when failed.</summary>
    public string? FailureCode { get; init; }
    /// <summary>Why it failed, for the client.</summary>
    public string? FailureMessage { get; init; }
}

/// <summary>The states Kinema distinguishes upstream.</summary>
public enum UpstreamState
{
    /// <summary>Accepted, waiting.</summary>
    Queued,
    /// <summary>Being made.</summary>
    Running,
    /// <summary>Done; videos available.</summary>
    Succeeded,
    /// <summary>Refused or broken.</summary>
    Failed,
    /// <summary>Cancelled upstream.</summary>
    Cancelled,
}

/// <summary>How an upstream call failed, which decides what Kinema does next.</summary>
public enum UpstreamErrorKind
{
    /// <summary>5xx, timeout, connection failure, garbage body: retry later (or fail over at submit).</summary>
    Transient,
    /// <summary>429 rate limit or concurrency cap: back off (or fail over at submit).</summary>
    RateLimited,
    /// <summary>This account can't serve it (auth, balance, no access): no retry here; fail over at submit.</summary>
    AccountRefused,
    /// <summary>The request itself is refused (invalid parameters, content policy): fail the task, no failover.</summary>
    RequestRefused,
    /// <summary>The upstream task does not exist.</summary>
    NotFound,
}

/// <summary>An upstream call failed. The message never holds secrets.</summary>
public sealed class UpstreamException : Exception
{
    /// <summary>Creates the failure.</summary>
    public UpstreamException(UpstreamErrorKind kind, string code, string message, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Code = code;
        RetryAfter = retryAfter;
    }

    /// <summary>What kind of failure.</summary>
    public UpstreamErrorKind Kind { get; }

    /// <summary>A stable code for the task's failure reason, e.g. <c>content_policy</c>.</summary>
    public string Code { get; }

    /// <summary>The upstream's requested wait, when it gave one.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>True when another engine may take the task at submit time.</summary>
    public bool AllowsFailover => Kind is UpstreamErrorKind.Transient or UpstreamErrorKind.RateLimited or UpstreamErrorKind.AccountRefused;
}

/// <summary>
/// An upstream that serves its results from its own configured host, as a self-hosted ComfyUI does. That host is often
/// on the operator's private network, which the guarded fetcher refuses for URLs from users; a result URL on this
/// exact host (scheme, host and port) is trusted configuration and is downloaded through the engine's own client.
/// </summary>
public interface IUpstreamResultHost
{
    /// <summary>True when <paramref name="url"/> is on the engine's configured host.</summary>
    bool Hosts(Uri url);

    /// <summary>A client for downloading from that host; it follows no redirects.</summary>
    HttpClient CreateResultClient();
}
