using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;

namespace Kinema.Contracts.Rules;

/// <summary>
/// Which network addresses Kinema refuses to fetch from: loopback, private, link-local (incl. cloud metadata),
/// multicast, unspecified and the like, in IPv4 and IPv6 forms (mapped, compatible, NAT64 …).
/// </summary>
public static class AddressPolicy
{
    /// <summary>The longest data URI accepted (about 20 MiB of image once decoded).</summary>
    public const int MaxDataUriLength = 28 * 1024 * 1024;

    private static readonly (uint Network, int Prefix)[] BlockedV4 =
    [
        (Ip(0, 0, 0, 0), 8),         // "this network", incl. 0.0.0.0
        (Ip(10, 0, 0, 0), 8),        // private
        (Ip(100, 64, 0, 0), 10),     // carrier-grade NAT
        (Ip(127, 0, 0, 0), 8),       // loopback
        (Ip(169, 254, 0, 0), 16),    // link-local, incl. 169.254.169.254 cloud metadata
        (Ip(172, 16, 0, 0), 12),     // private
        (Ip(192, 0, 0, 0), 24),      // IETF protocol assignments
        (Ip(192, 0, 2, 0), 24),      // documentation
        (Ip(192, 88, 99, 0), 24),    // 6to4 relay anycast
        (Ip(192, 168, 0, 0), 16),    // private
        (Ip(198, 18, 0, 0), 15),     // benchmarking
        (Ip(198, 51, 100, 0), 24),   // documentation
        (Ip(203, 0, 113, 0), 24),    // documentation
        (Ip(224, 0, 0, 0), 4),       // multicast
        (Ip(240, 0, 0, 0), 4),       // reserved, incl. broadcast
    ];

    private static readonly string[] BlockedHostNames = ["localhost", "metadata", "metadata.google.internal", "instance-data"];

    /// <summary>True when Kinema must never connect to this address.</summary>
    public static bool IsBlocked(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return IsBlockedV4(address);
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return true;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return IsBlockedV4(address.MapToIPv4());
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        if (IPAddress.IPv6Loopback.Equals(address) || IPAddress.IPv6Any.Equals(address) || IPAddress.IPv6None.Equals(address))
        {
            return true;
        }

        // IPv4-compatible ::a.b.c.d (deprecated, but some stacks still route it).
        if (bytes[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return true;
        }

        var first = bytes[0];
        var second = bytes[1];
        return (first & 0xFE) == 0xFC                                   // fc00::/7 unique local (incl. fd00:ec2::254 metadata)
               || (first == 0xFE && (second & 0xC0) == 0x80)            // fe80::/10 link-local
               || (first == 0xFE && (second & 0xC0) == 0xC0)            // fec0::/10 site-local
               || first == 0xFF                                         // ff00::/8 multicast
               || (first == 0x20 && second == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8) // 2001:db8::/32 documentation
               || (first == 0x20 && second == 0x01 && bytes[2] == 0 && bytes[3] == 0)       // 2001::/32 Teredo
               || (first == 0x01 && second == 0 && bytes[2..8].IndexOfAnyExcept((byte)0) < 0) // 100::/64 discard
               || (first == 0x00 && second == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B)  // 64:ff9b::/96 NAT64 (and /48 local)
               || (first == 0x20 && second == 0x02 && IsBlockedV4(new IPAddress(bytes[2..6])));  // 2002::/16 6to4 of a blocked v4
    }

    /// <summary>
    /// Checks a user-given image URL at submit time: scheme (<c>https</c>, <c>http</c>, or <c>data:image/…;base64,</c>)
    /// and, when the host is an IP literal, that it is not blocked. Returns null when acceptable.
    /// </summary>
    /// <param name="param">The field path for the violation, e.g. <c>image_urls[0]</c>.</param>
    /// <param name="url">The URL as given.</param>
    /// <param name="allowPrivateNetworks">Skip the address check (tests only).</param>
    public static RuleViolation? CheckImageUrl(string param, string url, bool allowPrivateNetworks)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return CheckDataUri(param, url);
        }

        return CheckHttpUrl(param, url, allowPrivateNetworks,
            $"{param} must be an https:// or http:// URL or a data:image/…;base64, URI");
    }

    /// <summary>Like <see cref="CheckImageUrl"/> for callback URLs: http(s) only, no data URIs.</summary>
    public static RuleViolation? CheckCallbackUrl(string param, string url, bool allowPrivateNetworks)
    {
        ArgumentNullException.ThrowIfNull(url);
        return CheckHttpUrl(param, url, allowPrivateNetworks, $"{param} must be an https:// or http:// URL");
    }

    /// <summary>True when a host name is one Kinema refuses without even resolving it.</summary>
    public static bool IsBlockedHostName(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var name = host.TrimEnd('.').ToLowerInvariant();
        return BlockedHostNames.Contains(name) || name.EndsWith(".localhost", StringComparison.Ordinal)
               || name.EndsWith(".internal", StringComparison.Ordinal);
    }

    private static RuleViolation? CheckHttpUrl(string param, string url, bool allowPrivateNetworks, string schemeMessage)
    {
        if (url.Length > 8192)
        {
            return new RuleViolation(param, $"{param} is longer than 8192 characters");
        }

        // Uri would quietly drop or escape them; a stored URL with a NUL is also one PostgreSQL cannot keep.
        if (url.Any(char.IsControl))
        {
            return new RuleViolation(param, $"{param} must not contain control characters (percent-encode them)");
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
        {
            return new RuleViolation(param, schemeMessage);
        }

        if (uri.Host.Length == 0)
        {
            return new RuleViolation(param, $"{param} has no host");
        }

        if (uri.UserInfo.Length > 0)
        {
            return new RuleViolation(param, $"{param} must not carry a user name or password");
        }

        if (allowPrivateNetworks)
        {
            return null;
        }

        // Uri normalises the odd IPv4 spellings (2130706433, 0x7f000001, 0177.0.0.1, 127.1) to dotted quads. A name is
        // judged as it will be looked up: IdnHost applies IDNA's mapping, under which ideographic and fullwidth dots
        // (127。0。0。1) are dots and the name a dotted quad again.
        var host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']')
            : uri.HostNameType == UriHostNameType.Dns ? uri.IdnHost : uri.Host;
        var blocked = IPAddress.TryParse(host, out var address) ? IsBlocked(address) : IsBlockedHostName(host);
        return blocked
            ? new RuleViolation(param, $"{param} points at a loopback, private or link-local address, which Kinema does not fetch from")
            : null;
    }

    private static RuleViolation? CheckDataUri(string param, string url)
    {
        var comma = url.IndexOf(',', StringComparison.Ordinal);
        var header = comma > 0 ? url[5..comma].ToLowerInvariant() : "";
        if (header == "image/gif;base64")
        {
            return new RuleViolation(param, $"{param} is a GIF data URI; Kinema accepts data:image/(png|jpeg|webp);base64, here "
                                            + "(POST /v1/uploads/images takes a GIF and keeps its first frame as a PNG)");
        }

        if (comma < 0 || header is not ("image/png;base64" or "image/jpeg;base64" or "image/jpg;base64" or "image/webp;base64"))
        {
            return new RuleViolation(param, $"{param} must be an https:// or http:// URL or a data:image/(png|jpeg|webp);base64, URI");
        }

        if (url.Length > MaxDataUriLength)
        {
            return new RuleViolation(param, $"{param} is a data URI over {MaxDataUriLength / (1024 * 1024)} MiB of base64, more than the 20 MiB of image Kinema accepts; upload the image and pass its URL");
        }

        var payload = url.AsSpan(comma + 1);
        if (payload.IsEmpty || !Base64.IsValid(payload))
        {
            return new RuleViolation(param, $"{param} is a data URI whose base64 payload is empty or invalid");
        }

        return null;
    }

    private static bool IsBlockedV4(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        var value = (uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3];
        foreach (var (network, prefix) in BlockedV4)
        {
            var mask = prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);
            if ((value & mask) == network)
            {
                return true;
            }
        }

        return false;
    }

    private static uint Ip(byte a, byte b, byte c, byte d) => (uint)a << 24 | (uint)b << 16 | (uint)c << 8 | d;
}
