using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace Kinema.Engines.Kling;

/// <summary>
/// The JWT the official API wants per request: HS256 over <c>{"iss": access key, "exp": now+1800, "nbf": now-5}</c>,
/// signed with the secret key. One token is reused until five minutes before it expires.
/// </summary>
internal sealed class KlingToken(string accessKey, string secretKey, TimeProvider time)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(5);
    private readonly Lock _gate = new();
    private (string Token, DateTimeOffset Expires)? _current;

    public string Get()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_current is { } current && current.Expires - now > RenewBefore)
            {
                return current.Token;
            }

            var expires = now + Lifetime;
            _current = (Create(accessKey, secretKey, now, expires), expires);
            return _current.Value.Token;
        }
    }

    /// <summary>Drops the cached token (after the API said it was expired or not yet valid).</summary>
    public void Invalidate()
    {
        lock (_gate)
        {
            _current = null;
        }
    }

    internal static string Create(string accessKey, string secretKey, DateTimeOffset now, DateTimeOffset expires)
    {
        var header = Encode("""{"alg":"HS256","typ":"JWT"}"""u8);
        var payload = Encode(Encoding.UTF8.GetBytes(
            $$"""{"iss":{{System.Text.Json.JsonSerializer.Serialize(accessKey, KlingJsonContext.Default.String)}},"exp":{{expires.ToUnixTimeSeconds()}},"nbf":{{now.ToUnixTimeSeconds() - 5}}}"""));
        var signature = Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secretKey), Encoding.ASCII.GetBytes(header + "." + payload)));
        return header + "." + payload + "." + signature;
    }

    private static string Encode(ReadOnlySpan<byte> bytes) => WebEncoders.Base64UrlEncode(bytes.ToArray());
}
