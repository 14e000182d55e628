using System.CommandLine;

namespace Kinema.Cli.Commands;

/// <summary>Options several commands share.</summary>
internal static class CommonOptions
{
    public static Option<string?> Data() => new("--data")
    {
        Description = "The data directory (default: $KINEMA_DATA, else ./.kinema).",
    };
}

/// <summary>Process exit codes.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int TaskFailed = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;
}
