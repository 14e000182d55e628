using System.ComponentModel.DataAnnotations;

namespace Kinema.Core.Fetching;

/// <summary>Limits on what Kinema fetches from URLs that users give it (<c>Kinema:Fetch</c>).</summary>
public sealed record FetchOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Fetch";

    /// <summary>Allow loopback, private and link-local targets. For tests only; never in production.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Largest image body accepted, bytes.</summary>
    [Range(1024, 1L << 30)]
    public long MaxImageBytes { get; set; } = 20L * 1024 * 1024;

    /// <summary>Largest image accepted, width × height.</summary>
    [Range(1, 1L << 32)]
    public long MaxImagePixels { get; set; } = 8192L * 8192;

    /// <summary>Redirects followed per fetch, each checked like the first URL.</summary>
    [Range(0, 20)]
    public int MaxRedirects { get; set; } = 5;

    /// <summary>Whole-fetch time limit.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}
