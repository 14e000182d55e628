using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.Animatic;

/// <summary>Stops start-up with a clear message when ffmpeg is missing, rather than failing every task later.</summary>
internal sealed class FfmpegCheck(IOptions<AnimaticOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var ffmpeg = options.Value.FfmpegPath;
        try
        {
            using var process = Process.Start(new ProcessStartInfo(ffmpeg, "-hide_banner -version")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            await process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode == 0)
            {
                return;
            }
        }
        catch (Win32Exception)
        {
            // Not installed: reported below.
        }

        throw new FfmpegMissingException(
            $"the animatic engine needs ffmpeg, and '{ffmpeg}' cannot be run. Install it with: sudo apt-get install -y ffmpeg " +
            "(or set Kinema:Animatic:FfmpegPath)");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>ffmpeg cannot be run.</summary>
public sealed class FfmpegMissingException(string message) : InvalidOperationException(message);
