using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Kinema.Testing;

/// <summary>
/// A real S3-protocol server (npm <c>s3rver</c>, installed by <c>./test</c> into <c>tests/node/node_modules</c>) on a free
/// loopback port with one bucket, its objects in a scratch directory; killed and removed on dispose.
/// </summary>
internal sealed class S3rverProcess : IAsyncDisposable
{
    // s3rver's built-in credentials.
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    /// <summary>Ports of stopped stores, held until a store starts there again.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, Socket> HeldPorts = new();

    private readonly Process _process;
    private readonly string _directory;

    private S3rverProcess(Process process, string directory, Uri serviceUrl, string bucket)
    {
        _process = process;
        _directory = directory;
        ServiceUrl = serviceUrl;
        Bucket = bucket;
    }

    public Uri ServiceUrl { get; }
    public string Bucket { get; }

    /// <summary>Kinema's settings for results in this server's bucket.</summary>
    public Dictionary<string, string?> KinemaSettings(bool presignedUrls = false) => new()
    {
        ["Kinema:Storage:Provider"] = "s3",
        ["Kinema:Storage:S3:ServiceUrl"] = ServiceUrl.ToString().TrimEnd('/'),
        ["Kinema:Storage:S3:Bucket"] = Bucket,
        ["Kinema:Storage:S3:AccessKey"] = AccessKey,
        ["Kinema:Storage:S3:SecretKey"] = SecretKey,
        ["Kinema:Storage:S3:PresignedUrls"] = presignedUrls ? "true" : "false",
    };

    /// <summary>Starts a store; <paramref name="port"/> brings one back where an earlier one listened (see <see cref="RestartAsync"/>).</summary>
    public static async Task<S3rverProcess> StartAsync(string bucket = "kinema-results", int? port = null)
    {
        var script = Path.Combine(NodeModules(), "s3rver", "bin", "s3rver.js");
        var directory = Path.Combine(Path.GetTempPath(), "kinema-s3rver", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        port ??= LoopbackPorts.Free();
        if (HeldPorts.TryRemove(port.Value, out var held))
        {
            held.Dispose();
        }

        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { script, "-d", directory, "-a", "127.0.0.1", "-p", port.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), "-s", "--configure-bucket", bucket })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var server = new S3rverProcess(process, directory, new Uri($"http://127.0.0.1:{port}/"), bucket);
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                await server.DisposeAsync();
                lock (errors)
                {
                    throw new InvalidOperationException($"s3rver exited with {process.ExitCode}: {errors}");
                }
            }

            try
            {
                // Any answer (an unsigned request is refused) means it listens.
                using var response = await probe.GetAsync(server.ServiceUrl);
                return server;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            catch (TaskCanceledException) when (DateTime.UtcNow < deadline)
            {
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Stops the store, as an outage does, and keeps its port bound but not listening until a store starts there again
    /// (<see cref="StartAsync"/> with this port): connections are refused as by a store that is down, and no other server
    /// of the test run can take the port meanwhile and answer (or hang) in the store's place.
    /// </summary>
    public async Task StopAsync()
    {
        await KillAsync();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, ServiceUrl.Port));
        HeldPorts[ServiceUrl.Port] = socket;
    }

    /// <summary>Brings a stopped store back on its port, as an outage ends, and releases the stopped one.</summary>
    public async Task<S3rverProcess> RestartAsync()
    {
        // Started before this one is disposed, so the held port passes straight to the new store.
        var restarted = await StartAsync(Bucket, ServiceUrl.Port);
        await DisposeAsync();
        return restarted;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        if (HeldPorts.TryRemove(ServiceUrl.Port, out var held))
        {
            held.Dispose();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task KillAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static string NodeModules() => Testing.NodeModules.Find("s3rver");
}
