namespace Kinema.Core;

/// <summary>Looks through an exception and every one it wraps, the inner exceptions of an aggregate included.</summary>
internal static class ExceptionChain
{
    /// <summary>True when <paramref name="exception"/>, or one it wraps, matches.</summary>
    public static bool Any(Exception exception, Func<Exception, bool> match)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (match(current))
            {
                return true;
            }

            if (current is AggregateException aggregate)
            {
                return aggregate.InnerExceptions.Any(inner => Any(inner, match));
            }
        }

        return false;
    }
}
