using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;

namespace Kinema.Server.Playground;

/// <summary>One file of the playground, read once from the assembly: its bytes, media type and strong ETag.</summary>
internal sealed record PlaygroundAsset(string Name, byte[] Content, string ContentType, string ETag);

/// <summary>
/// The playground's static files, embedded in the server assembly (<c>Playground/wwwroot/*</c>) so a single binary
/// serves the page with no content root, CDN or build step. Loaded once: the set never changes while the server runs.
/// </summary>
internal sealed class PlaygroundAssets
{
    /// <summary>The prefix the project file gives every embedded playground file's logical name.</summary>
    internal const string ResourcePrefix = "Kinema.Playground/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private readonly FrozenDictionary<string, PlaygroundAsset> _assets;

    private PlaygroundAssets(FrozenDictionary<string, PlaygroundAsset> assets) => _assets = assets;

    public static PlaygroundAssets Load(Assembly assembly)
    {
        var assets = new Dictionary<string, PlaygroundAsset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(name), out var contentType))
            {
                throw new InvalidOperationException($"The playground file '{name}' has no known media type; add it to {nameof(PlaygroundAssets)}.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 12)) + "\"";
            assets[name] = new PlaygroundAsset(name, content, contentType, etag);
        }

        return new PlaygroundAssets(assets.ToFrozenDictionary(StringComparer.Ordinal));
    }

    public PlaygroundAsset? Find(string name) => _assets.GetValueOrDefault(name);
}
