using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kinema.Core;
using Kinema.Core.Tenants;
using Kinema.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kinema.EndToEnd.Infrastructure;

/// <summary>The real Kinema host on a free loopback port, with its own data directory and two tenants' keys.</summary>
internal sealed class KinemaTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsDirectory;

    private KinemaTestServer(WebApplication app, KinemaPaths paths, bool ownsDirectory, Uri baseAddress, string aliceKey, string bobKey)
    {
        _app = app;
        Paths = paths;
        _ownsDirectory = ownsDirectory;
        BaseAddress = baseAddress;
        AliceKey = aliceKey;
        BobKey = bobKey;
        Alice = ClientFor(aliceKey);
        Bob = ClientFor(bobKey);
        Anonymous = new HttpClient { BaseAddress = baseAddress };
    }

    public KinemaPaths Paths { get; }
    public Uri BaseAddress { get; }
    public string AliceKey { get; }
    public string BobKey { get; }
    public HttpClient Alice { get; }
    public HttpClient Bob { get; }
    public HttpClient Anonymous { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<KinemaTestServer> StartAsync(
        IDictionary<string, string?>? settings = null, string? dataDirectory = null)
    {
        var ownsDirectory = dataDirectory is null;
        var paths = new KinemaPaths(dataDirectory ?? Path.Combine(Path.GetTempPath(), "kinema-e2e", Guid.NewGuid().ToString("N")));
        var configuration = new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            // Tests serve their images from loopback, which production refuses.
            ["Kinema:Fetch:AllowPrivateNetworks"] = "true",
            ["Kinema:Scheduler:PollInterval"] = "00:00:00.200",
            ["Logging:LogLevel:Default"] = "Warning",
            // Tests poll fast and in parallel; the rate-limit tests set their own limit.
            ["Kinema:RateLimits:RequestsPerMinute"] = "10000000",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        var app = KinemaServer.Build(paths, [], builder => builder.Configuration.AddInMemoryCollection(configuration));
        await app.StartAsync();
        var keys = app.Services.GetRequiredService<IApiKeyStore>();
        var alice = await keys.CreateAsync("alice", "alice", CancellationToken.None);
        var bob = await keys.CreateAsync("bob", "bob", CancellationToken.None);
        var address = new Uri(app.Urls.First());
        return new KinemaTestServer(app, paths, ownsDirectory, address, alice.Key, bob.Key);
    }

    public HttpClient ClientFor(string key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Alice.Dispose();
        Bob.Dispose();
        Anonymous.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(Paths.DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>Calls of the contract, as a client would make them.</summary>
internal static class ContractCalls
{
    public static async Task<string> CreateAsync(this HttpClient client, string body)
    {
        using var response = await client.PostAsync("/v1/videos/generations", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(System.Net.HttpStatusCode.OK, text);
        using var document = JsonDocument.Parse(text);
        document.RootElement.GetProperty("code").GetInt32().Should().Be(200);
        var submitted = document.RootElement.GetProperty("data")[0];
        submitted.GetProperty("status").GetString().Should().Be("submitted");
        return submitted.GetProperty("task_id").GetString()!;
    }

    public static async Task<JsonElement> GetTaskAsync(this HttpClient client, string taskId)
    {
        using var response = await client.GetAsync($"/v1/tasks/{taskId}");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(System.Net.HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("data").Clone();
    }

    public static async Task<JsonElement> WaitForTerminalAsync(this HttpClient client, string taskId, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(3));
        while (true)
        {
            var task = await client.GetTaskAsync(taskId);
            var status = task.GetProperty("status").GetString();
            if (status is "completed" or "failed" or "cancelled")
            {
                return task;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"task {taskId} still {status} after the deadline: {task}");
            }

            await Task.Delay(200);
        }
    }

    public static async Task<string> DownloadVideoAsync(this HttpClient client, JsonElement completedTask, string directory)
    {
        var url = completedTask.GetProperty("result").GetProperty("videos")[0].GetProperty("url")[0].GetString()!;
        using var anonymous = new HttpClient();
        using var response = await anonymous.GetAsync(url);
        response.StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("video/mp4");
        var path = Path.Combine(directory, completedTask.GetProperty("id").GetString() + ".mp4");
        Directory.CreateDirectory(directory);
        await File.WriteAllBytesAsync(path, await response.Content.ReadAsByteArrayAsync());
        return path;
    }

    public static async Task<JsonElement> PostErrorAsync(this HttpClient client, string body, int expectedStatus, string contentType = "application/json")
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await client.PostAsync("/v1/videos/generations", content);
        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).Should().Be(expectedStatus, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error").Clone();
        error.GetProperty("code").GetInt32().Should().Be(expectedStatus);
        return error;
    }
}
