using System.Net;

namespace Kinema.Contracts.Rules;

/// <summary>
/// Which network addresses Kinema refuses to fetch from: loopback, private, link-local (incl. cloud metadata),
/// multicast, unspecified and the like, in IPv4 and IPv6 forms (mapped, compatible, NAT64 …).
/// </summary>
public static class AddressPolicy
{
    /// <summary>True when Kinema must never connect to this address.</summary>
    public static bool IsBlocked(IPAddress address) => throw new NotImplementedException();

    /// <summary>
    /// Checks a user-given image URL at submit time: scheme (<c>https</c>, <c>http</c>, or <c>data:image/…;base64,</c>)
    /// and, when the host is an IP literal, that it is not blocked. Returns null when acceptable.
    /// </summary>
    /// <param name="param">The field path for the violation, e.g. <c>image_urls[0]</c>.</param>
    /// <param name="url">The URL as given.</param>
    /// <param name="allowPrivateNetworks">Skip the address check (tests only).</param>
    public static RuleViolation? CheckImageUrl(string param, string url, bool allowPrivateNetworks)
        => throw new NotImplementedException();

    /// <summary>Like <see cref="CheckImageUrl"/> for callback URLs: http(s) only, no data URIs.</summary>
    public static RuleViolation? CheckCallbackUrl(string param, string url, bool allowPrivateNetworks)
        => throw new NotImplementedException();
}
