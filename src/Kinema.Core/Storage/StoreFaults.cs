using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Kinema.Core.Storage;

/// <summary>
/// Tells a store that is out of reach — PostgreSQL down or cut off, its pool exhausted, a SQLite file locked, full or
/// failing — from a bug. The first is the operator's to fix and the client's to retry; it is answered 503 and logged
/// as one line, not as a stack trace.
/// </summary>
internal static class StoreFaults
{
    // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN (primary codes).
    private static readonly int[] SqliteOutOfReach = [5, 6, 10, 13, 14];

    public static bool IsUnreachable(Exception exception) => ExceptionChain.Any(exception, static current => current switch
    {
        NpgsqlException { IsTransient: true } => true,
        NpgsqlException { InnerException: IOException or SocketException or TimeoutException } => true,
        SqliteException sqlite => Array.IndexOf(SqliteOutOfReach, sqlite.SqliteErrorCode & 0xFF) >= 0,
        _ => false,
    });

    /// <summary>
    /// Out of reach, or refusing this node outright: PostgreSQL rejecting the login (class 28) or naming a database that
    /// does not exist (3D000). Both are settings to fix, not bugs; any other server error is still a bug.
    /// </summary>
    public static bool IsUnusable(Exception exception) =>
        IsUnreachable(exception)
        || ExceptionChain.Any(exception, static current => current is PostgresException { SqlState: "3D000" } or PostgresException { SqlState: ['2', '8', ..] });

    /// <summary>The reason in one line: the innermost message, which names the cause (refused, reset, locked …).</summary>
    public static string Reason(Exception exception)
    {
        var innermost = exception;
        while (innermost.InnerException is { } inner)
        {
            innermost = inner;
        }

        return innermost == exception ? exception.Message : $"{exception.Message} ({innermost.Message})";
    }
}
