namespace Kinema.Contracts.Requests;

/// <summary>The values of the <c>language</c> query parameter, which sets the language of a task's human-readable messages.</summary>
public static class MessageLanguages
{
    /// <summary>English, the default.</summary>
    public const string English = "en";
    /// <summary>Chinese.</summary>
    public const string Chinese = "zh";
    /// <summary>Korean.</summary>
    public const string Korean = "ko";
    /// <summary>Japanese.</summary>
    public const string Japanese = "ja";

    /// <summary>Every accepted value, the default first.</summary>
    public static IReadOnlyList<string> All { get; } = [English, Chinese, Korean, Japanese];

    /// <summary>True for one of <see cref="All"/>, in any letter case.</summary>
    public static bool IsKnown(string value) => All.Contains(value, StringComparer.OrdinalIgnoreCase);
}
