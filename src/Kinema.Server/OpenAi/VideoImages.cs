using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Kinema.Engines.Animatic;
using Microsoft.Extensions.Options;

namespace Kinema.Server.OpenAi;

/// <summary>
/// The still images OpenAI's <c>content</c> offers beside the video: the thumbnail (the stored poster, or a frame taken
/// now when the engine made none) and the spritesheet (a 5×5 grid of frames spread over the video). A missing image is
/// made with ffmpeg from the stored video on first request and stored beside it through <see cref="IResultStorage"/>,
/// so every later request (on any node) is a plain read; concurrent first requests on a node share one ffmpeg run.
/// </summary>
internal sealed class VideoImages(IResultStorage storage, KinemaPaths paths, IOptions<AnimaticOptions> animatic)
{
    public const string SpritesheetName = "spritesheet.jpg";
    public const string ThumbnailName = "thumbnail.jpg";
    private const int Columns = 5;
    private const int Rows = 5;
    private const int TileWidth = 256;

    private readonly ConcurrentDictionary<string, Lazy<Task<StoredFile?>>> _making = new(StringComparer.Ordinal);

    /// <summary>The task's thumbnail, or null when its video is gone.</summary>
    public async Task<StoredFile?> ThumbnailAsync(TaskRecord task, StoredResult result, CancellationToken cancellationToken)
    {
        if (result.PosterName is { } poster && await storage.FindAsync(task.Id, poster, cancellationToken) is { } stored)
        {
            return stored;
        }

        // The middle frame: the first is often black or a fade-in.
        var at = (result.DurationSeconds / 2).ToString("0.###", CultureInfo.InvariantCulture);
        return await GetOrMakeAsync(task.Id, result, ThumbnailName, ["-ss", at, "-i", "{input}", "-frames:v", "1", "-q:v", "3"], cancellationToken);
    }

    /// <summary>The task's spritesheet, or null when its video is gone.</summary>
    public Task<StoredFile?> SpritesheetAsync(TaskRecord task, StoredResult result, CancellationToken cancellationToken)
    {
        // A little over one frame per tile, so the grid fills even when rounding drops the last frame.
        var tiles = Columns * Rows;
        var fps = ((tiles + 1) / Math.Max(result.DurationSeconds, 0.1)).ToString("0.####", CultureInfo.InvariantCulture);
        return GetOrMakeAsync(task.Id, result, SpritesheetName,
            ["-i", "{input}", "-vf", $"fps={fps},scale={TileWidth}:-2,tile={Columns}x{Rows}", "-frames:v", "1", "-q:v", "4"],
            cancellationToken);
    }

    private async Task<StoredFile?> GetOrMakeAsync(
        string taskId, StoredResult result, string name, string[] arguments, CancellationToken cancellationToken)
    {
        if (await storage.FindAsync(taskId, name, cancellationToken) is { } existing)
        {
            return existing;
        }

        var key = taskId + "/" + name;
        var making = _making.GetOrAdd(key, _ => new Lazy<Task<StoredFile?>>(() => MakeAsync(taskId, result, name, arguments)));
        // Forgotten once done, whether or not anyone still waits: a failure is retried by the next request, and a success
        // is found in storage from then on.
        _ = making.Value.ContinueWith(
            _ => _making.TryRemove(new KeyValuePair<string, Lazy<Task<StoredFile?>>>(key, making)),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return await making.Value.WaitAsync(cancellationToken);
    }

    /// <summary>Runs to the end whoever waits: a client that goes away must not leave half a file or a stuck entry.</summary>
    private async Task<StoredFile?> MakeAsync(string taskId, StoredResult result, string name, string[] arguments)
    {
        var cancellationToken = CancellationToken.None;
        var video = await storage.FindAsync(taskId, result.VideoName, cancellationToken);
        if (video is null)
        {
            return null;
        }

        var scratch = Path.Combine(paths.RequestScratch, "openai-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(scratch);
        try
        {
            var input = video.PhysicalPath;
            if (input is null)
            {
                // An object store's video is copied down once; ffmpeg seeks in it freely.
                input = Path.Combine(scratch, "video.mp4");
                await using var source = await storage.OpenReadAsync(video, cancellationToken);
                await using var target = File.Create(input);
                await source.CopyToAsync(target, cancellationToken);
            }

            var output = Path.Combine(scratch, name);
            await RunFfmpegAsync([.. arguments.Select(a => a == "{input}" ? input : a), "-y", output], cancellationToken);
            return await storage.SaveAsync(taskId, name, output, cancellationToken);
        }
        finally
        {
            try
            {
                Directory.Delete(scratch, recursive: true);
            }
            catch (IOException)
            {
                // A leftover scratch directory is harmless.
            }
        }
    }

    private async Task RunFfmpegAsync(IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(animatic.Value.FfmpegPath)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-hide_banner", "-loglevel", "error", "-nostdin" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg could not be started");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        await stdout;
        if (process.ExitCode != 0)
        {
            var tail = await stderr;
            throw new InvalidOperationException($"ffmpeg failed ({process.ExitCode}) making an image: {tail[Math.Max(0, tail.Length - 2000)..]}");
        }
    }
}
