using System.Diagnostics;
using Kinema.Testing;

namespace Kinema.EndToEnd.Infrastructure;

/// <summary>The built <c>kinema</c> CLI running <c>serve</c> as a separate process, so tests can kill it for real.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();
    private bool _disposed;

    private ServerProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri BaseAddress { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts <c>kinema serve</c> and waits until it answers <c>/healthz</c> and, unless <paramref name="waitForStartLine"/>
    /// is false, has printed its start line (the first key, when it makes one, follows that line).
    /// </summary>
    public static async Task<ServerProcess> StartAsync(
        string dataDirectory, IDictionary<string, string>? environment = null, int? port = null, bool waitForStartLine = true)
    {
        var listen = port ?? LoopbackPorts.Free();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "kinema.dll"), "serve",
                     "--data", dataDirectory, "--urls", $"http://127.0.0.1:{listen}",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["KINEMA__FETCH__ALLOWPRIVATENETWORKS"] = "true";
        start.Environment["KINEMA__SCHEDULER__POLLINTERVAL"] = "00:00:00.200";
        start.Environment["KINEMA__RATELIMITS__REQUESTSPERMINUTE"] = "10000000"; // tests poll fast and in parallel
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{listen}"));
        try
        {
            await server.WaitUntilHealthyAsync(waitForStartLine);
        }
        catch
        {
            // A node that never came up is not left running behind the failed test.
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task WaitUntilHealthyAsync(bool waitForStartLine)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var lastAnswer = "nothing yet";
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"kinema serve exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri(BaseAddress, "/healthz"));
                if (response.IsSuccessStatusCode && (!waitForStartLine || Output.Contains("Kinema is listening on", StringComparison.Ordinal)))
                {
                    return;
                }

                lastAnswer = $"HTTP {(int)response.StatusCode}";
            }
            catch (HttpRequestException exception)
            {
                lastAnswer = exception.Message;
            }
            catch (TaskCanceledException)
            {
                lastAnswer = "no answer within 2 s";
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"kinema serve did not become healthy in 60 s (/healthz last gave: {lastAnswer}):\n{Output}");
    }

    /// <summary>A client of this server that sends <paramref name="key"/>.</summary>
    public HttpClient ClientFor(string key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash or power cut.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM: what a service manager or Ctrl-C sends.</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cancellation = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancellation.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
