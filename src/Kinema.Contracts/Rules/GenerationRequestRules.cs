using System.Text.Json;
using Kinema.Contracts.Requests;

namespace Kinema.Contracts.Rules;

/// <summary>The parse of a create body: the request when every rule holds, else the broken rules.</summary>
public sealed record ParsedRequest(GenerationRequest? Request, IReadOnlyList<RuleViolation> Violations)
{
    /// <summary>True when <see cref="Request"/> is set and no rule is broken.</summary>
    public bool IsValid => Request is not null && Violations.Count == 0;
}

/// <summary>Switches for the rules that depend on how Kinema is deployed.</summary>
public sealed record GenerationRuleOptions
{
    /// <summary>Accept image URLs whose host is a loopback/private literal (tests only).</summary>
    public bool AllowPrivateNetworks { get; init; }

    /// <summary>The largest data-URI image accepted, decoded bytes (the server passes <c>Kinema:Fetch:MaxImageBytes</c>).</summary>
    public long MaxImageBytes { get; init; } = DataUriImage.DefaultMaxBytes;

    /// <summary>The largest data-URI image accepted, width × height (the server passes <c>Kinema:Fetch:MaxImagePixels</c>).</summary>
    public long MaxImagePixels { get; init; } = DataUriImage.DefaultMaxPixels;

    /// <summary>
    /// The server's own image URLs (uploads), accepted after their signature and owner are checked even where the address
    /// rules would refuse the host; null when there are none (the SDK).
    /// </summary>
    public IOwnImageUrls? OwnImageUrls { get; init; }

    /// <summary>The defaults: private networks refused.</summary>
    public static GenerationRuleOptions Default { get; } = new();
}

/// <summary>Every rule of the Kling v3 contract's create call (spec section 1 and 4), shared by server and SDK.</summary>
public static partial class GenerationRequestRules
{
    /// <summary>The official API's cap on <c>prompt</c> and <c>negative_prompt</c>.</summary>
    public const int MaxPromptLength = 2500;
    /// <summary>The cap on one shot's prompt.</summary>
    public const int MaxShotPromptLength = 512;
    /// <summary>The duration when a request names none, seconds.</summary>
    public const int DefaultDuration = 5;
    /// <summary>Shortest video, seconds.</summary>
    public const int MinDuration = 3;
    /// <summary>Longest video, seconds.</summary>
    public const int MaxDuration = 15;
    /// <summary>Most shots in a storyboard.</summary>
    public const int MaxShots = 6;
    /// <summary>Most elements in a request.</summary>
    public const int MaxElements = 3;
    /// <summary>Fewest images of an element.</summary>
    public const int MinElementImages = 2;
    /// <summary>Most images of an element.</summary>
    public const int MaxElementImages = 4;
    /// <summary>Most entries in <c>image_urls</c>.</summary>
    public const int MaxImageUrls = 2;
}
