namespace Kinema.Core.Storage;

/// <summary>
/// The result storage cannot be used right now: the bucket does not answer or refuses Kinema's credentials, the disk is
/// full, read-only or failing. It is the operator's to fix and the client's to retry, so a request that meets it is
/// answered 503, and it is an <see cref="IOException"/> so that loops which ride out I/O failures ride out this one.
/// </summary>
public sealed class ResultStorageUnavailableException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ResultStorageUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public ResultStorageUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Wraps the storage's own failure.</summary>
    public ResultStorageUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>True when <paramref name="exception"/> or one it wraps is this one.</summary>
    public static bool IsIn(Exception exception) =>
        ExceptionChain.Any(exception, static current => current is ResultStorageUnavailableException);
}
