using System.Net;
using System.Net.Sockets;

namespace Kinema.Testing;

/// <summary>Ports on loopback for the servers the tests start, and for the ones they expect not to be there.</summary>
public static class LoopbackPorts
{
    /// <summary>A port nothing listens on right now: free to listen on, or to find closed.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
