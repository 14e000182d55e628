using Microsoft.Extensions.Hosting;

namespace Kinema.Engines.Animatic;

/// <summary>Stops start-up with a clear message when ffmpeg is missing, rather than failing every task later.</summary>
internal sealed class FfmpegCheck(FfmpegAvailability ffmpeg) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await ffmpeg.FindProblemAsync(cancellationToken) is { } problem)
        {
            throw new FfmpegMissingException(
                $"the animatic engine needs ffmpeg, and {problem}. Install it with: sudo apt-get install -y ffmpeg " +
                "(or set Kinema:Animatic:FfmpegPath)");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>ffmpeg cannot be run.</summary>
public sealed class FfmpegMissingException(string message) : InvalidOperationException(message);
