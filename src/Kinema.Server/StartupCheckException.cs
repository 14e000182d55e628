namespace Kinema.Server;

/// <summary>A start-up check failed (e.g. ffmpeg missing); the message tells the operator what to do.</summary>
public sealed class StartupCheckException(string message) : Exception(message);
