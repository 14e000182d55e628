namespace Kinema.Contracts.Rules;

/// <summary>
/// Recognises image URLs that point into the server's own storage (its upload URLs). Such an image is read from storage,
/// never fetched over the network, so the address rules that guard fetching (no loopback, no private networks) do not
/// apply to it — but only once the URL's signature and owner have been checked here.
/// </summary>
public interface IOwnImageUrls
{
    /// <summary>
    /// Null when <paramref name="url"/> is not one of the server's own image URLs (the ordinary rules apply); otherwise
    /// the verdict: accepted, or refused with the reason.
    /// </summary>
    OwnImageUrlVerdict? Check(string url);
}

/// <summary>What <see cref="IOwnImageUrls"/> decided about one of the server's own URLs.</summary>
/// <param name="Accepted">True when the image may be used.</param>
/// <param name="Reason">Why it is refused, a phrase following the field name: "is an upload link that has expired".</param>
public sealed record OwnImageUrlVerdict(bool Accepted, string? Reason)
{
    /// <summary>A valid URL of the caller's own upload.</summary>
    public static OwnImageUrlVerdict Valid { get; } = new(true, null);

    /// <summary>Refused, with the reason.</summary>
    public static OwnImageUrlVerdict Refused(string reason) => new(false, reason);
}
