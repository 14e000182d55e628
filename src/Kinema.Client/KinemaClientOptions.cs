namespace Kinema.Client;

/// <summary>Where a <see cref="KinemaClient"/> connects and how it behaves.</summary>
public sealed class KinemaClientOptions
{
    /// <summary>The server's base URL, e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public Uri BaseAddress { get; set; } = new("http://127.0.0.1:8080");

    /// <summary>The API key, sent as <c>Authorization: Bearer …</c>.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>The time limit of one HTTP attempt.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>How many times a failed request is retried (429, 5xx, timeouts; never a create without idempotency key).</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>The first retry's delay; later ones back off exponentially with jitter, or follow <c>Retry-After</c>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The first poll interval of <see cref="KinemaClient.WaitForCompletionAsync"/>; it grows to <see cref="MaxPollInterval"/>.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest poll interval.</summary>
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Use the server's live event stream for waiting, falling back to polling when it has none.</summary>
    public bool UseEventStream { get; set; } = true;

    /// <summary>
    /// The language of the server's messages about a task (a failure's <c>error.message</c>, a missing task's 404):
    /// <c>en</c> (the server's default when null), <c>zh</c>, <c>ko</c> or <c>ja</c>. Sent as <c>?language=</c> on reads
    /// and watches of a task.
    /// </summary>
    public string? Language { get; set; }

    /// <summary>Check requests against the contract's rules before sending them.</summary>
    public bool ValidateRequests { get; set; } = true;
}
