using System.Diagnostics;
using System.Text;

namespace Kinema.Engines.Animatic;

/// <summary>An ffmpeg child process fed raw frames on stdin, its stderr kept (tail only) for error messages.</summary>
internal sealed class FfmpegProcess : IAsyncDisposable
{
    private const int StderrTailLength = 4000;
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly Task _stderrPump;

    private FfmpegProcess(Process process)
    {
        _process = process;
        _stderrPump = PumpStderrAsync();
    }

    public Stream Input => _process.StandardInput.BaseStream;

    public static FfmpegProcess Start(string executable, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} could not be started");
        process.StandardOutput.Close();
        return new FfmpegProcess(process);
    }

    public string StderrTail
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString().Trim();
            }
        }
    }

    /// <summary>Closes stdin and waits; the exit code.</summary>
    public async Task<int> FinishAsync(CancellationToken cancellationToken)
    {
        await Input.FlushAsync(cancellationToken);
        _process.StandardInput.Close();
        await _process.WaitForExitAsync(cancellationToken);
        await _stderrPump;
        return _process.ExitCode;
    }

    private async Task PumpStderrAsync()
    {
        var buffer = new char[4096];
        int read;
        while ((read = await _process.StandardError.ReadAsync(buffer)) > 0)
        {
            lock (_stderr)
            {
                _stderr.Append(buffer, 0, read);
                if (_stderr.Length > StderrTailLength * 2)
                {
                    _stderr.Remove(0, _stderr.Length - StderrTailLength);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
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
            // Already gone.
        }

        _process.Dispose();
    }
}
