namespace Kinema.Core.Engines;

/// <summary>A task cannot be made. <see cref="Exception.Message"/> is shown to the client, so it never holds secrets.</summary>
public sealed class EngineFailureException : Exception
{
    /// <summary>Creates the failure.</summary>
    /// <param name="code">A stable machine-readable reason, e.g. <c>image_fetch_failed</c>.</param>
    /// <param name="message">A sentence for the client, naming the field when one is at fault.</param>
    /// <param name="retryable">True when another attempt may succeed (a transient upstream fault).</param>
    public EngineFailureException(string code, string message, bool retryable = false)
        : base(message)
    {
        Code = code;
        Retryable = retryable;
    }

    /// <summary>Creates the failure with its cause.</summary>
    public EngineFailureException(string code, string message, Exception innerException, bool retryable = false)
        : base(message, innerException)
    {
        Code = code;
        Retryable = retryable;
    }

    /// <summary>The machine-readable reason.</summary>
    public string Code { get; }

    /// <summary>True when another attempt may succeed.</summary>
    public bool Retryable { get; }
}
