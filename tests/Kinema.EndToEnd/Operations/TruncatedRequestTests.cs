using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Operations;

/// <summary>
/// A client that breaks its own request body (a malformed chunk, or a connection dropped before the bytes its
/// Content-Length promised: a failed upload, a load generator stopped mid-request) gets a 400 in the contract's format
/// where it is still there to read one, and the server logs no "unhandled exception" with a stack trace, which an
/// operator would read as a server bug.
/// </summary>
public sealed class TruncatedRequestTests : IDisposable
{
    private const string PartialBody = """{"model":"kling-v3","prompt":"a bo""";
    private readonly string _data = Path.Combine(Path.GetTempPath(), "kinema-truncated", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_broken_or_cut_short_body_is_the_clients_fault_answered_400_and_logged_without_a_stack_trace()
    {
        await using var server = await ServerProcess.StartAsync(_data);
        var key = (await File.ReadAllTextAsync(new KinemaPaths(_data).CliKey)).Trim();
        var outputBefore = server.Output.Length;
        var head = $"POST /v1/videos/generations HTTP/1.1\r\nHost: {server.BaseAddress.Authority}\r\n"
                   + $"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n";

        // A chunk whose size line is not hex: the body cannot be read, and the client is still there for the answer.
        var chunked = await SendAsync(server, head + $"Transfer-Encoding: chunked\r\n\r\n{PartialBody.Length:x}\r\n{PartialBody}\r\nzz\r\n",
            closeAfterSending: false);
        chunked.Split("\r\n")[0].Should().StartWith("HTTP/1.1 400", chunked);
        var error = JsonDocument.Parse(Body(chunked)).RootElement.GetProperty("error");
        error.GetProperty("code").GetInt32().Should().Be(400);
        error.GetProperty("message").GetString().Should().Contain("could not be read");

        // Less body than promised, then the connection goes: nobody is left to answer. Many times over, because whether
        // the connection is gone before or while the 400 is written is a race, and both must log no stack.
        for (var i = 0; i < 40; i++)
        {
            await SendAsync(server, head + $"Content-Length: 400\r\n\r\n{PartialBody}", closeAfterSending: true);
        }

        // The server carries on: a whole request right after is served.
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var id = await client.CreateAsync("""{"model":"kling-v3","prompt":"after the broken ones","duration":3}""");
        id.Should().StartWith("task_");

        await Task.Delay(500, TestContext.Current.CancellationToken);
        var logged = server.Output[outputBefore..];
        logged.Should().NotContain("unhandled exception", "a broken request is the client's fault, not a server bug");
        logged.Should().NotContain("   at ", "no stack trace for a client that broke its own request");
    }

    private static async Task<string> SendAsync(ServerProcess server, string request, bool closeAfterSending)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port, TestContext.Current.CancellationToken);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);
        if (closeAfterSending)
        {
            socket.Client.Shutdown(SocketShutdown.Send);
        }

        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            return await reader.ReadToEndAsync(timeout.Token);
        }
        catch (IOException) when (closeAfterSending)
        {
            // The server may reset a connection whose client had already stopped sending: nothing to read either way.
            return "";
        }
    }

    private static string Body(string answer)
    {
        var body = answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        return answer.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)
            ? string.Concat(body.Split("\r\n").Where((_, index) => index % 2 == 1))
            : body;
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
