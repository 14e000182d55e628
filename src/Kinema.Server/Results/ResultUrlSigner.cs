using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace Kinema.Server.Results;

/// <summary>
/// Signs result URLs with HMAC-SHA256 over the path and the expiry, so a link works without an API key (video
/// players cannot send one) but only for what it names and only until it expires.
/// </summary>
internal sealed class ResultUrlSigner(byte[] secret, TimeProvider time)
{
    public const string Route = "/files";

    public (string PathAndQuery, long ExpiresAt) Sign(string taskId, string name, TimeSpan lifetime)
    {
        var expires = time.GetUtcNow().Add(lifetime).ToUnixTimeSeconds();
        var signature = Compute(taskId, name, expires);
        return ($"{Route}/{taskId}/{name}?expires={expires}&signature={signature}", expires);
    }

    public SignatureCheck Verify(string taskId, string name, string? expires, string? signature)
    {
        if (!long.TryParse(expires, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var expiresAt)
            || signature is null)
        {
            return SignatureCheck.Invalid;
        }

        var expected = Encoding.ASCII.GetBytes(Compute(taskId, name, expiresAt));
        var presented = Encoding.ASCII.GetBytes(signature);
        if (!CryptographicOperations.FixedTimeEquals(expected, presented))
        {
            return SignatureCheck.Invalid;
        }

        return time.GetUtcNow().ToUnixTimeSeconds() > expiresAt ? SignatureCheck.Expired : SignatureCheck.Valid;
    }

    private string Compute(string taskId, string name, long expires)
    {
        var payload = Encoding.UTF8.GetBytes($"{taskId}/{name}\n{expires}");
        return WebEncoders.Base64UrlEncode(HMACSHA256.HashData(secret, payload));
    }
}

/// <summary>The outcome of checking a signed URL.</summary>
internal enum SignatureCheck
{
    Valid,
    Invalid,
    Expired,
}
