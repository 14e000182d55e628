using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.Animatic;

/// <summary>
/// Whether the configured ffmpeg can run. Running it costs a process, so a verdict is kept until the executable
/// changes (a stat per question: removed, replaced or upgraded) or <see cref="Recheck"/> passes; a readiness probe every
/// few seconds never spawns ffmpeg.
/// </summary>
internal sealed class FfmpegAvailability(IOptions<AnimaticOptions> options, TimeProvider time) : IDisposable
{
    private static readonly TimeSpan Recheck = TimeSpan.FromMinutes(5);
    private readonly SemaphoreSlim _running = new(1, 1);
    private Verdict? _last;

    /// <summary>Null when ffmpeg runs; otherwise a sentence saying why not, naming the configured path.</summary>
    public async Task<string?> FindProblemAsync(CancellationToken cancellationToken)
    {
        var configured = options.Value.FfmpegPath;
        if (Resolve(configured) is not { } executable)
        {
            return $"'{configured}' was not found";
        }

        var writtenAt = File.GetLastWriteTimeUtc(executable);
        if (IsCurrent(_last, executable, writtenAt) is { } fresh)
        {
            return fresh.Problem;
        }

        await _running.WaitAsync(cancellationToken);
        try
        {
            // Another caller may have checked while this one waited.
            if (IsCurrent(_last, executable, writtenAt) is { } checkedMeanwhile)
            {
                return checkedMeanwhile.Problem;
            }

            var problem = await RunVersionAsync(executable, cancellationToken);
            _last = new Verdict(executable, writtenAt, time.GetTimestamp(), problem);
            return problem;
        }
        finally
        {
            _running.Release();
        }
    }

    private Verdict? IsCurrent(Verdict? verdict, string executable, DateTime writtenAt) =>
        verdict is not null && verdict.Executable == executable && verdict.WrittenAt == writtenAt
        && time.GetElapsedTime(verdict.CheckedAt) < Recheck
            ? verdict
            : null;

    private static async Task<string?> RunVersionAsync(string executable, CancellationToken cancellationToken)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(executable, "-hide_banner -version")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.StandardOutput.ReadToEndAsync(cancellationToken);
            await errors;
            await process.WaitForExitAsync(cancellationToken);
            return process.ExitCode == 0 ? null : $"'{executable} -version' exited with code {process.ExitCode}";
        }
        catch (Win32Exception exception)
        {
            return $"'{executable}' cannot be run: {exception.Message}";
        }
    }

    /// <summary>The executable a name resolves to, as <see cref="Process.Start(ProcessStartInfo)"/> would find it, or null.</summary>
    internal static string? Resolve(string configured)
    {
        if (configured.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(configured);
            return File.Exists(full) ? full : null;
        }

        var search = Environment.GetEnvironmentVariable("PATH") ?? "";
        return search.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, configured))
            .FirstOrDefault(File.Exists);
    }

    public void Dispose() => _running.Dispose();

    private sealed record Verdict(string Executable, DateTime WrittenAt, long CheckedAt, string? Problem);
}
