using System.Net;
using System.Net.Sockets;
using Kinema.Contracts.Rules;

namespace Kinema.Core.Fetching;

/// <summary>
/// An HTTP handler that cannot reach blocked addresses. The check happens when the socket connects, on the addresses
/// the name actually resolved to, so neither a hostname pointing at 127.0.0.1 nor DNS rebinding between a check and
/// the connect gets through. Redirects are not followed here: callers follow them one hop at a time.
/// </summary>
public static class GuardedHttpHandler
{
    /// <summary>Makes the handler.</summary>
    /// <param name="options">Limits; <see cref="FetchOptions.AllowPrivateNetworks"/> switches the guard off (tests).</param>
    /// <param name="isBlocked">The address rule; <see cref="AddressPolicy.IsBlocked"/> unless a test narrows it.</param>
    public static SocketsHttpHandler Create(FetchOptions options, Func<IPAddress, bool>? isBlocked = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var blocked = options.AllowPrivateNetworks && isBlocked is null ? _ => false : isBlocked ?? AddressPolicy.IsBlocked;
        return new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            MaxResponseHeadersLength = 64,
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context, blocked, cancellationToken),
        };
    }

    private static async ValueTask<Stream> ConnectAsync(
        SocketsHttpConnectionContext context, Func<IPAddress, bool> isBlocked, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = addresses.Where(address => !isBlocked(address)).ToList();
        if (allowed.Count == 0)
        {
            throw new BlockedAddressException(addresses.Length == 0
                ? $"{host} does not resolve"
                : $"{host} resolves to a loopback, private or link-local address, which Kinema does not fetch from");
        }

        SocketException? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException exception)
            {
                last = exception;
                socket.Dispose();
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
    }
}

/// <summary>
/// A connection was refused because every address of the host is blocked. HttpClient wraps it in an
/// <see cref="HttpRequestException"/>; callers use <see cref="FindIn"/> to tell this permanent refusal from a transient
/// network fault, which must not be retried as one.
/// </summary>
public sealed class BlockedAddressException(string message) : IOException(message)
{
    /// <summary>The refusal inside <paramref name="exception"/> (itself or an inner exception), or null.</summary>
    public static BlockedAddressException? FindIn(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is BlockedAddressException blocked)
            {
                return blocked;
            }
        }

        return null;
    }
}
