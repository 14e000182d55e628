using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Core;
using Kinema.Core.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Engines.ComfyUI;

/// <summary>
/// The sampler's progress from ComfyUI's WebSocket (<c>/ws?clientId=…</c>), which its HTTP API does not report. ComfyUI
/// sends a prompt's <c>progress</c> events only to the client id that queued it, so every prompt this node queues
/// carries <see cref="ClientId"/>. What this node hears is written to the task store about once a second, not only at
/// the next poll (which may be half a minute away): every node's status, list and event stream shows it as it moves.
/// </summary>
internal sealed partial class ComfyUiProgress(
    IOptions<ComfyUiOptions> options, ILogger<ComfyUiProgress> logger, IUpstreamTaskStore store, TimeProvider time, KinemaPaths paths) : BackgroundService
{
    private const int MaxTracked = 10_000;
    private static readonly TimeSpan[] Reconnect = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)];
    private readonly ConcurrentDictionary<string, int> _percent = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _tasks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _written = new(StringComparer.Ordinal);

    /// <summary>How often heard progress is written to the store (at most one write per running prompt each time).</summary>
    internal static TimeSpan WriteInterval { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// This node's client id at ComfyUI, the same across restarts: ComfyUI sends a prompt's progress to the client id it
    /// was queued under, so a node that came back under a new one would hear nothing of the prompts it queued before.
    /// </summary>
    public string ClientId { get; } = LoadClientId(paths.ComfyUiClientId, logger);

    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    private static string LoadClientId(string path, ILogger logger)
    {
        try
        {
            var kept = File.Exists(path) ? File.ReadAllText(path).Trim() : "";
            if (IsClientId(kept))
            {
                return kept;
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            LogClientIdUnreadable(logger, path, exception.Message);
        }

        var made = "kinema-" + Guid.NewGuid().ToString("N");
        try
        {
            SecretFile.Write(path, System.Text.Encoding.ASCII.GetBytes(made + "\n"));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Progress still flows until the next restart; only the prompts in flight at a restart would go quiet.
            LogClientIdUnsaved(logger, path, exception.Message);
        }

        return made;
    }

    private static bool IsClientId(string text) =>
        text.Length == 39 && text.StartsWith("kinema-", StringComparison.Ordinal) && !text.AsSpan(7).ContainsAnyExcept(LowerHex);

    /// <summary>0–99 while the prompt's sampler runs; null when nothing was heard of it.</summary>
    public int? PercentOf(string promptId) => _percent.TryGetValue(promptId, out var percent) ? percent : null;

    /// <summary>Names the Kinema task a prompt this node queued belongs to, so what is heard of it can be stored.</summary>
    public void Track(string promptId, string taskId)
    {
        if (_tasks.Count >= MaxTracked && !_tasks.ContainsKey(promptId))
        {
            _tasks.Clear();
            _written.Clear();
        }

        _tasks[promptId] = taskId;
    }

    /// <summary>Writes each tracked prompt's progress that rose since the last write; returns how many tasks moved.</summary>
    internal async Task<int> WriteProgressAsync(CancellationToken cancellationToken)
    {
        var moved = 0;
        foreach (var (promptId, percent) in _percent)
        {
            if (!_tasks.TryGetValue(promptId, out var taskId) || (_written.TryGetValue(promptId, out var written) && written >= percent))
            {
                continue;
            }

            if (await store.RecordProgressAsync(taskId, promptId, percent, cancellationToken))
            {
                moved++;
            }

            _written[promptId] = percent;
        }

        return moved;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(stoppingToken), WriteLoopAsync(stoppingToken));

    private async Task WriteLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(WriteInterval, time);
        var failing = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await WriteProgressAsync(stoppingToken);
                    failing = false;
                }
                catch (Exception exception) when (exception is not OperationCanceledException and not OutOfMemoryException)
                {
                    // A store outage costs the live percentage only: the poll stores progress too, and the task goes on.
                    if (!failing)
                    {
                        var reason = exception.Message;
                        LogWriteFailed(logger, reason);
                    }

                    failing = true;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var baseUrl = new Uri(options.Value.BaseUrl!.TrimEnd('/') + "/");
        var url = new UriBuilder(new Uri(baseUrl, "ws?clientId=" + ClientId)) { Scheme = baseUrl.Scheme == "https" ? "wss" : "ws" }.Uri;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var socket = new ClientWebSocket();
                if (!string.IsNullOrEmpty(options.Value.ApiKey))
                {
                    socket.Options.SetRequestHeader("Authorization", "Bearer " + options.Value.ApiKey);
                }

                using (var connect = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    connect.CancelAfter(options.Value.Timeout);
                    await socket.ConnectAsync(url, connect.Token);
                }

                failures = 0;
                await ReceiveAsync(socket, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                // Progress is a nicety: without the socket, tasks still finish and are polled over HTTP. Whatever broke
                // the socket, the loop goes on: a background service that throws would stop the whole server.
                var reason = exception.Message;
                if (failures == 0)
                {
                    // One line per outage, not one per reconnect attempt.
                    LogDisconnected(logger, reason);
                }
            }

            try
            {
                await Task.Delay(Reconnect[Math.Min(failures++, Reconnect.Length - 1)], stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (socket.State == WebSocketState.Open)
        {
            var received = await socket.ReceiveAsync(buffer, cancellationToken);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            // Binary frames are preview images; a text frame too large to be an event is skipped, not buffered.
            if (received.MessageType != WebSocketMessageType.Text || message.Length + received.Count > buffer.Length)
            {
                message.SetLength(0);
                continue;
            }

            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage)
            {
                Handle(message.GetBuffer().AsSpan(0, (int)message.Length));
                message.SetLength(0);
            }
        }
    }

    /// <summary>
    /// <c>{"type":"progress","data":{"value":3,"max":30,"prompt_id":…}}</c> while a sampler steps; the prompt is
    /// forgotten when ComfyUI reports it finished, failed or interrupted.
    /// </summary>
    internal void Handle(ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException)
        {
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || !root.TryGetProperty("data", out var data)
                || data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("prompt_id", out var id) || !JsonText.TryGetString(id, out var promptId))
            {
                return;
            }

            switch (JsonText.StringOrEscaped(type))
            {
                case "progress" when data.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var done)
                                     && data.TryGetProperty("max", out var max) && max.ValueKind == JsonValueKind.Number && max.TryGetDouble(out var total)
                                     && total > 0:
                    if (_percent.Count >= MaxTracked && !_percent.ContainsKey(promptId))
                    {
                        _percent.Clear();
                    }

                    _percent[promptId] = (int)Math.Clamp(done * 100 / total, 0, 99);
                    break;
                case "execution_success" or "execution_error" or "execution_interrupted":
                    _percent.TryRemove(promptId, out _);
                    _tasks.TryRemove(promptId, out _);
                    _written.TryRemove(promptId, out _);
                    break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The ComfyUI client id in {Path} could not be read ({Reason}); a new one is made")]
    private static partial void LogClientIdUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The ComfyUI client id could not be saved to {Path} ({Reason}); after a restart, prompts queued before it report progress only at polls")]
    private static partial void LogClientIdUnsaved(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storing ComfyUI's progress failed ({Reason}); the next polls still store it")]
    private static partial void LogWriteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "ComfyUI's progress socket is not connected ({Reason}); reconnecting")]
    private static partial void LogDisconnected(ILogger logger, string reason);
}
