using System.Security.Cryptography;
using System.Text;

namespace Kinema.Core.Webhooks;

/// <summary>
/// Standard Webhooks signing: <c>v1,</c> + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where the key is the
/// base64 part of the <c>whsec_</c> secret.
/// </summary>
public static class WebhookSignature
{
    /// <summary>The prefix of every secret.</summary>
    public const string SecretPrefix = "whsec_";

    /// <summary>A new random secret (24 bytes, as Svix and Replicate make them).</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    /// <summary>The <c>webhook-signature</c> header value.</summary>
    public static string Sign(string secret, string id, long timestamp, string body)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var key = Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);
        var signature = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}"));
        return "v1," + Convert.ToBase64String(signature);
    }
}
