using System.Security.Cryptography;
using System.Text;
using Kinema.Contracts.Rules;
using Kinema.Core;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Storage;
using Kinema.Core.Tasks;
using Kinema.Server.Results;
using Microsoft.AspNetCore.WebUtilities;

namespace Kinema.Server.Uploads;

/// <summary>
/// Uploaded images: stored through <see cref="IResultStorage"/> under ids of their own (<c>upl_…</c>, beside the
/// <c>task_…</c> ids of results), served through the same signed <c>/files</c> links as results, and recognised when a
/// create names them. An upload id carries a tag derived from its tenant and the signing key, so an upload link is
/// accepted in a create only from a key of the tenant that uploaded it; the link itself, like a result link, works
/// without a key for viewing until it expires.
/// </summary>
internal sealed class UploadUrls(ResultUrlSigner signer, SigningKey key, IResultStorage storage, TimeProvider time) : IOwnImageReader
{
    /// <summary>How long an upload link works.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(72);

    public const string IdPrefix = "upl_";
    private const int UlidLength = 26;
    private const int TagLength = 16;
    private static readonly string[] Names = ["image.jpg", "image.png", "image.webp"];

    /// <summary>Stores an image for a tenant; returns its id and stored name.</summary>
    public async Task<StoredFile> SaveAsync(string tenantId, byte[] image, string mediaType, string scratchDirectory,
        CancellationToken cancellationToken)
    {
        var ulid = TaskIds.New(time.GetUtcNow())[TaskIds.Prefix.Length..];
        var id = IdPrefix + ulid + Tag(tenantId, ulid);
        var name = mediaType switch
        {
            "image/png" => "image.png",
            "image/webp" => "image.webp",
            _ => "image.jpg",
        };
        Directory.CreateDirectory(scratchDirectory);
        var scratch = Path.Combine(scratchDirectory, $"{id}-{name}");
        try
        {
            await File.WriteAllBytesAsync(scratch, image, cancellationToken);
            return await storage.SaveAsync(id, name, scratch, cancellationToken);
        }
        finally
        {
            File.Delete(scratch);
        }
    }

    /// <summary>The signed link of a stored upload under <paramref name="baseUrl"/>.</summary>
    public (string Url, long ExpiresAt) Link(StoredFile file, string baseUrl)
    {
        var (pathAndQuery, expiresAt) = signer.Sign(file.TaskId, file.Name, Lifetime);
        return (baseUrl + pathAndQuery, expiresAt);
    }

    /// <summary>The create-time check for one tenant; <paramref name="ownAuthorities"/> are the hosts this server answers on.</summary>
    public IOwnImageUrls ForTenant(string tenantId, IReadOnlyCollection<string> ownAuthorities) =>
        new TenantUploads(this, tenantId, ownAuthorities);

    public async Task<byte[]?> TryReadAsync(string fieldPath, string url, long maxBytes, CancellationToken cancellationToken)
    {
        // Expiry was checked when the task was accepted; a task that waited in the queue past it still gets its image.
        if (Parse(url) is not { } link || Verify(link) == SignatureCheck.Invalid)
        {
            return null;
        }

        var file = await storage.FindAsync(link.Id, link.Name, cancellationToken)
                   ?? throw new EngineFailureException("image_fetch_failed", $"{fieldPath}: the uploaded image no longer exists");
        if (file.Length > maxBytes)
        {
            throw new EngineFailureException("image_fetch_failed", $"{fieldPath}: larger than {maxBytes / (1024 * 1024)} MiB");
        }

        await using var stream = await storage.OpenReadAsync(file, cancellationToken);
        using var buffer = new MemoryStream((int)file.Length);
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    private SignatureCheck Verify(UploadLink link) => signer.Verify(link.Id, link.Name, link.Expires, link.Signature);

    private string Tag(string tenantId, string ulid)
    {
        var mac = HMACSHA256.HashData(key.Value, Encoding.UTF8.GetBytes($"kinema-upload-owner\n{tenantId}\n{ulid}"));
        return Convert.ToHexStringLower(mac)[..TagLength];
    }

    private bool IsOwnedBy(string id, string tenantId)
    {
        var ulid = id.Substring(IdPrefix.Length, UlidLength);
        var expected = Encoding.ASCII.GetBytes(Tag(tenantId, ulid));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(id[(IdPrefix.Length + UlidLength)..]));
    }

    /// <summary>The parts of a URL shaped like an upload link (<c>…/files/upl_…/image.png?expires=…&amp;signature=…</c>), or null.</summary>
    private static UploadLink? Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return null;
        }

        var segments = uri.AbsolutePath.Split('/');
        if (segments.Length < 4 || segments[^3] != ResultUrlSigner.Route.TrimStart('/'))
        {
            return null;
        }

        var (id, name) = (segments[^2], segments[^1]);
        if (!id.StartsWith(IdPrefix, StringComparison.Ordinal) || id.Length != IdPrefix.Length + UlidLength + TagLength
            || !Names.Contains(name, StringComparer.Ordinal))
        {
            return null;
        }

        var query = QueryHelpers.ParseQuery(uri.Query);
        return new UploadLink(uri.Authority, id, name, query.TryGetValue("expires", out var e) ? e.ToString() : null,
            query.TryGetValue("signature", out var s) ? s.ToString() : null);
    }

    private sealed record UploadLink(string Authority, string Id, string Name, string? Expires, string? Signature);

    private sealed class TenantUploads(UploadUrls uploads, string tenantId, IReadOnlyCollection<string> ownAuthorities) : IOwnImageUrls
    {
        public OwnImageUrlVerdict? Check(string url)
        {
            if (Parse(url) is not { } link)
            {
                return null;
            }

            switch (uploads.Verify(link))
            {
                case SignatureCheck.Invalid:
                    // A forged or altered link on this server's own address is refused by name; the same path on another
                    // host is somebody else's URL, left to the ordinary address rules.
                    return ownAuthorities.Contains(link.Authority, StringComparer.OrdinalIgnoreCase)
                        ? OwnImageUrlVerdict.Refused("is an upload link whose signature is not valid; use the url POST /v1/uploads/images returned")
                        : null;
                case SignatureCheck.Expired:
                    return OwnImageUrlVerdict.Refused($"is an upload link that has expired (they last {Lifetime.TotalHours:0} h); upload the image again");
            }

            // The signature proves this server made the link; the id's tag says for which tenant.
            return uploads.IsOwnedBy(link.Id, tenantId)
                ? OwnImageUrlVerdict.Valid
                : OwnImageUrlVerdict.Refused("is an upload link that does not belong to this API key's tenant");
        }
    }
}
