using Kinema.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Kinema.Core.Diagnostics;

/// <summary>
/// What one background loop says while the store is out of reach: a line when the outage starts, a line a minute while
/// it lasts, and a line when the store answers again. Only a failure that is not an outage (a bug) carries its stack
/// trace, once per run of failures. A loop retrying every second otherwise buries the log in identical stack traces.
/// One instance per loop; not thread-safe.
/// </summary>
internal sealed partial class StoreOutageLog(ILogger logger, string loop, TimeProvider time)
{
    private static readonly TimeSpan RepeatEvery = TimeSpan.FromMinutes(1);
    private int _failures;
    private DateTimeOffset _since;
    private DateTimeOffset _lastLine;

    public void Failed(Exception exception)
    {
        var now = time.GetUtcNow();
        var first = _failures++ == 0;
        if (first)
        {
            _since = now;
        }
        else if (now - _lastLine < RepeatEvery)
        {
            return;
        }

        _lastLine = now;
        var unreachable = StoreFaults.IsUnreachable(exception);
        if (first && unreachable)
        {
            LogOutage(logger, loop, exception.GetType().Name, StoreFaults.Reason(exception));
        }
        else if (first)
        {
            LogFault(logger, loop, exception);
        }
        else
        {
            var seconds = Math.Round((now - _since).TotalSeconds);
            LogStillFailing(logger, loop, _failures, seconds, exception.GetType().Name, StoreFaults.Reason(exception));
        }
    }

    public void Succeeded()
    {
        if (_failures == 0)
        {
            return;
        }

        var seconds = Math.Round((time.GetUtcNow() - _since).TotalSeconds, 1);
        LogRecovered(logger, loop, seconds, _failures);
        _failures = 0;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Loop} cannot reach the task store ({Kind}: {Reason}); retrying")]
    private static partial void LogOutage(ILogger logger, string loop, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Loop} failed; retrying")]
    private static partial void LogFault(ILogger logger, string loop, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Loop} still failing: {Failures} attempts in {Seconds} s, the last one {Kind}: {Reason}")]
    private static partial void LogStillFailing(ILogger logger, string loop, int failures, double seconds, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Loop} reached the task store again after {Seconds} s ({Failures} failed attempts)")]
    private static partial void LogRecovered(ILogger logger, string loop, double seconds, int failures);
}
