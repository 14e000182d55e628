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

    /// <summary>The first exception of type <typeparamref name="T"/> in the chain, or null.</summary>
    public static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
            {
                return found;
            }

            if (current is AggregateException aggregate)
            {
                return aggregate.InnerExceptions.Select(Find<T>).FirstOrDefault(inner => inner is not null);
            }
        }

        return null;
    }
}
