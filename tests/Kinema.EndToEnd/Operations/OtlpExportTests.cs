using System.Collections.Concurrent;
using System.Text;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Kinema.EndToEnd.Operations;

/// <summary>With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, spans of a render reach an OTLP receiver.</summary>
public sealed class OtlpExportTests
{
    [Fact]
    public async Task A_render_span_is_exported_over_otlp_http_when_the_endpoint_is_set()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        string id;
        await using (var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.BaseAddress.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        }))
        {
            id = await server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"traced","duration":3}""");
            (await server.Alice.WaitForTerminalAsync(id)).GetProperty("status").GetString().Should().Be("completed");
            using var readyz = await server.Anonymous.GetAsync("/readyz");
            using var metrics = await server.Anonymous.GetAsync("/metrics");
        }

        // Stopping the host flushes the batch of spans; the protobuf carries span names and string tags as UTF-8.
        var traces = receiver.Bodies("/v1/traces");
        traces.Should().Contain(body => body.Contains(id, StringComparison.Ordinal) && body.Contains("render", StringComparison.Ordinal),
            "the render span carries the task id");
        traces.Should().Contain(body => body.Contains("/v1/videos/generations", StringComparison.Ordinal), "the HTTP server span of the create");
        traces.Should().NotContain(body => body.Contains("/readyz", StringComparison.Ordinal) || body.Contains("/metrics", StringComparison.Ordinal));
    }

    /// <summary>A loopback OTLP/HTTP receiver that keeps every body it is sent.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, string Body)> _received;

        private OtlpReceiver(WebApplication app, ConcurrentQueue<(string, string)> received)
        {
            _app = app;
            _received = received;
            BaseAddress = new Uri(app.Urls.First());
        }

        public Uri BaseAddress { get; }

        public List<string> Bodies(string path) => _received.Where(r => r.Path == path).Select(r => r.Body).ToList();

        public static async Task<OtlpReceiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var received = new ConcurrentQueue<(string, string)>();
            app.MapPost("/v1/{signal}", async (HttpContext http) =>
            {
                using var buffer = new MemoryStream();
                await http.Request.Body.CopyToAsync(buffer);
                // Latin-1 keeps every byte, so UTF-8 ASCII text inside the protobuf reads back as itself.
                received.Enqueue((http.Request.Path.Value!, Encoding.Latin1.GetString(buffer.ToArray())));
                return Results.Bytes([], "application/x-protobuf");
            });
            await app.StartAsync();
            return new OtlpReceiver(app, received);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
