using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kinema.EndToEnd.Webhooks;

/// <summary>
/// A webhook consumer on loopback that checks every delivery against the Standard Webhooks specification with its own
/// code (not Kinema's signer): HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64 part of
/// the whsec_ secret, compared with every "v1," signature in the header, and the timestamp within five minutes.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;
    public ConcurrentQueue<Received> Deliveries { get; } = new();
    public ConcurrentQueue<string> RedirectTargetHits { get; } = new();
    public Func<int, int> Answer { get; set; } = _ => 200;

    /// <summary>While set, a delivery is received but not answered until it completes (a receiver that hangs).</summary>
    public Task? Hold { get; set; }
    public string? Secret { get; set; }

    public sealed record Received(string Id, string Timestamp, string Signature, string Body, bool SignatureValid, string Path);

    public static async Task<WebhookReceiver> StartAsync(int? port = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port ?? 0}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook/{name}", async (string name, HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var id = context.Request.Headers["webhook-id"].ToString();
            var timestamp = context.Request.Headers["webhook-timestamp"].ToString();
            var signature = context.Request.Headers["webhook-signature"].ToString();
            receiver.Deliveries.Enqueue(new Received(id, timestamp, signature, body, receiver.Verify(id, timestamp, signature, body), name));
            if (receiver.Hold is { } hold)
            {
                await hold.WaitAsync(context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            var status = receiver.Answer(receiver.Deliveries.Count);
            if (status is >= 300 and < 400)
            {
                context.Response.Headers.Location = "/redirected";
            }

            context.Response.StatusCode = status;
        });
        app.MapPost("/redirected", (HttpContext context) =>
        {
            receiver.RedirectTargetHits.Enqueue(context.Request.Path);
            return Results.Ok();
        });
        await app.StartAsync();
        receiver.BaseAddress = new Uri(app.Urls.First());
        return receiver;
    }

    public string Url(string name) => new Uri(BaseAddress, "/hook/" + name).ToString();

    private bool Verify(string id, string timestamp, string header, string body)
    {
        if (Secret is null || !long.TryParse(timestamp, out var seconds)
            || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - seconds) > 300)
        {
            return false;
        }

        var key = Convert.FromBase64String(Secret["whsec_".Length..]);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
        return header.Split(' ').Any(part => part.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(part[3..]), Encoding.ASCII.GetBytes(expected)));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
