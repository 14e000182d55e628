using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Kinema.Core.Upstream;

/// <summary>
/// The URLs upstreams call back. Each carries an HMAC of the task id, so only an upstream Kinema gave the URL to can
/// trigger an early poll; even then the body is ignored and the task's state comes from polling.
/// </summary>
public sealed class CallbackUrls(SigningKey signingKey, IOptions<UpstreamOptions> options)
{
    /// <summary>The route callbacks arrive on.</summary>
    public const string RoutePrefix = "/callbacks";

    /// <summary>The callback URL for a task, or null when no public base URL is configured.</summary>
    public Uri? For(string engine, string taskId)
    {
        if (options.Value.CallbackBaseUrl is not { Length: > 0 } baseUrl)
        {
            return null;
        }

        return new Uri($"{baseUrl.TrimEnd('/')}{RoutePrefix}/{Uri.EscapeDataString(engine)}/{taskId}?token={Token(taskId)}");
    }

    /// <summary>True when the token was made by this node for the task.</summary>
    public bool Verify(string taskId, string? token) =>
        token is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Token(taskId)), Encoding.ASCII.GetBytes(token));

    private string Token(string taskId) =>
        WebEncoders.Base64UrlEncode(HMACSHA256.HashData(signingKey.Value, Encoding.UTF8.GetBytes("callback\n" + taskId)));
}
