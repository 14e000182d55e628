using Kinema.Contracts.Requests;

namespace Kinema.Core.Tasks;

/// <summary>A task as the store keeps it.</summary>
public sealed record TaskRecord
{
    /// <summary>The opaque id, <c>task_</c> + ULID.</summary>
    public required string Id { get; init; }
    /// <summary>The owning tenant.</summary>
    public required string TenantId { get; init; }
    /// <summary>The model asked for.</summary>
    public required string Model { get; init; }
    /// <summary>The engine the task is pinned to.</summary>
    public required string Engine { get; init; }
    /// <summary>The validated request.</summary>
    public required GenerationRequest Request { get; init; }
    /// <summary>Where it is.</summary>
    public required TaskState State { get; init; }
    /// <summary>0–100.</summary>
    public int Progress { get; init; }
    /// <summary>When it was accepted.</summary>
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>When it last changed.</summary>
    public required DateTimeOffset UpdatedAt { get; init; }
    /// <summary>When a worker first took it.</summary>
    public DateTimeOffset? StartedAt { get; init; }
    /// <summary>When it reached a terminal state.</summary>
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>Why it failed.</summary>
    public TaskFailure? Failure { get; init; }
    /// <summary>What it produced.</summary>
    public StoredResult? Result { get; init; }
    /// <summary>How many times a worker has taken it.</summary>
    public int Attempts { get; init; }
    /// <summary>The worker holding the lease.</summary>
    public string? LeaseOwner { get; init; }
    /// <summary>When the lease runs out.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }
    /// <summary>The client's Idempotency-Key, if any.</summary>
    public string? IdempotencyKey { get; init; }
    /// <summary>Where the task lives upstream, once an upstream engine accepted it.</summary>
    public Engines.UpstreamHandle? Upstream { get; init; }
    /// <summary>The engine a submission was last attempted on (persisted before sending), for crash recovery.</summary>
    public string? SubmitIntentEngine { get; init; }
    /// <summary>When the next upstream poll is due.</summary>
    public DateTimeOffset? NextPollAt { get; init; }
    /// <summary>Consecutive transient poll failures.</summary>
    public int PollErrors { get; init; }
    /// <summary>Engines tried before the one that took the task, and why they were passed over.</summary>
    public string? EngineHistory { get; init; }
    /// <summary>Credits charged when the task was created (0 when billing was off or the task was free).</summary>
    public long Cost { get; init; }
    /// <summary>True once the cost went back to the tenant; set in the transaction that ended the task, so at most once.</summary>
    public bool Refunded { get; init; }
}

/// <summary>Why a task failed: a stable code and a sentence for the client.</summary>
public sealed record TaskFailure(string Code, string Message);

/// <summary>The files a completed task produced, as stored by <see cref="Storage.IResultStorage"/>.</summary>
public sealed record StoredResult
{
    /// <summary>The MP4's name in result storage.</summary>
    public required string VideoName { get; init; }
    /// <summary>The poster JPEG's name, when there is one.</summary>
    public string? PosterName { get; init; }
    /// <summary>Pixel width.</summary>
    public int Width { get; init; }
    /// <summary>Pixel height.</summary>
    public int Height { get; init; }
    /// <summary>Seconds.</summary>
    public double DurationSeconds { get; init; }
    /// <summary>Whether there is an audio stream.</summary>
    public bool HasAudio { get; init; }
}

/// <summary>A task to create.</summary>
/// <param name="TenantId">The owning tenant.</param>
/// <param name="Engine">The engine it is pinned to.</param>
/// <param name="Request">The validated request.</param>
/// <param name="IdempotencyKey">The client's key, or null.</param>
/// <param name="RequestHash">A hash of the canonical request, to tell a replay from a clash (empty without a key).</param>
/// <param name="RequestJson">The request in the store's JSON form when the caller already has it (it hashed it).</param>
/// <param name="Cost">
/// Credits to charge, checked against the tenant's balance and debited in the transaction that writes the task
/// (0: nothing is charged and the balance is not consulted).
/// </param>
/// <param name="KeyId">The API key that asked, recorded on the task and its ledger entries.</param>
public sealed record NewTask(
    string TenantId, string Engine, GenerationRequest Request, string? IdempotencyKey, string RequestHash, string? RequestJson = null,
    long Cost = 0, string? KeyId = null);

/// <summary>The outcome of a create.</summary>
/// <param name="Task">The task created, or the earlier one an idempotent replay returns.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Balance">The tenant's balance when the create was refused for want of credits.</param>
/// <param name="MaxInFlight">The tenant's cap when the create was refused for too many tasks in flight.</param>
public sealed record CreateOutcome(TaskRecord? Task, CreateOutcomeKind Kind, long? Balance = null, int? MaxInFlight = null);

/// <summary>What a create did.</summary>
public enum CreateOutcomeKind
{
    /// <summary>A new task was written.</summary>
    Created,
    /// <summary>The same Idempotency-Key and body were seen before: the earlier task.</summary>
    Replayed,
    /// <summary>The Idempotency-Key was used before with a different body.</summary>
    KeyConflict,
    /// <summary>The tenant's balance does not cover the cost: nothing was written or charged.</summary>
    InsufficientCredits,
    /// <summary>The tenant already has its maximum of pending and processing tasks: nothing was written.</summary>
    TooManyInFlight,
}

/// <summary>The outcome of a cancel.</summary>
/// <param name="Task">The task after the call, or null when it does not exist for the tenant.</param>
/// <param name="Cancelled">True when this call cancelled it; false when it had already ended.</param>
public sealed record CancelOutcome(TaskRecord? Task, bool Cancelled);

/// <summary>Which of a tenant's tasks to list.</summary>
/// <param name="Limit">Page size, 1–100.</param>
/// <param name="After">The cursor of the previous page's last task (its id), or null for the newest.</param>
/// <param name="State">Only tasks in this state.</param>
/// <param name="Model">Only tasks of this model.</param>
/// <param name="CreatedAfter">Only tasks created after this instant.</param>
/// <param name="Ascending">Oldest first (then <paramref name="After"/> names the previous page's newest task).</param>
public sealed record TaskQuery(
    int Limit, string? After = null, TaskState? State = null, string? Model = null, DateTimeOffset? CreatedAfter = null, bool Ascending = false);

/// <summary>One page of tasks, newest first (oldest first when <see cref="TaskQuery.Ascending"/>).</summary>
/// <param name="Tasks">The tasks.</param>
/// <param name="HasMore">Whether older tasks match.</param>
/// <param name="NextCursor">Pass as <see cref="TaskQuery.After"/> for the next page.</param>
public sealed record TaskPage(IReadOnlyList<TaskRecord> Tasks, bool HasMore, string? NextCursor);
