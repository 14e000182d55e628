using System.Net;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Engines.Animatic;

namespace Kinema.EndToEnd.Operations;

/// <summary><c>/readyz</c>: 200 when the store, result storage and ffmpeg work; 503 naming the check that does not.</summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task Readyz_answers_200_naming_every_check_without_an_api_key()
    {
        await using var server = await KinemaTestServer.StartAsync();

        var (status, body) = await ReadyzAsync(server);

        status.Should().Be(HttpStatusCode.OK);
        body.GetProperty("status").GetString().Should().Be("healthy");
        Checks(body).Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["store"] = "healthy",
            ["storage"] = "healthy",
            ["ffmpeg"] = "healthy",
        });
    }

    [Fact]
    public async Task Readyz_answers_503_naming_storage_while_the_results_directory_is_a_file()
    {
        await using var server = await KinemaTestServer.StartAsync();
        var results = server.Paths.Results;
        // Tests run as root, whom file modes do not stop; a file where the directory should be stops everyone.
        if (Directory.Exists(results))
        {
            Directory.Delete(results, recursive: true);
        }

        await File.WriteAllTextAsync(results, "not a directory");

        var (status, body) = await ReadyzAsync(server);

        status.Should().Be(HttpStatusCode.ServiceUnavailable);
        body.GetProperty("status").GetString().Should().Be("unhealthy");
        Checks(body).Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["store"] = "healthy",
            ["storage"] = "unhealthy",
            ["ffmpeg"] = "healthy",
        });
        Message(body, "storage").Should().Contain("result storage");

        File.Delete(results);
        (await ReadyzAsync(server)).Status.Should().Be(HttpStatusCode.OK, "the check makes a missing results directory, as a save would");
    }

    [Fact]
    public async Task Readyz_answers_503_naming_ffmpeg_once_the_configured_executable_is_gone()
    {
        var installed = FfmpegAvailability.Resolve("ffmpeg");
        installed.Should().NotBeNull("the animatic tests need ffmpeg installed");
        var directory = Directory.CreateTempSubdirectory("kinema-ffmpeg-");
        var link = Path.Combine(directory.FullName, "ffmpeg");
        File.CreateSymbolicLink(link, installed!);
        try
        {
            await using var server = await KinemaTestServer.StartAsync(new Dictionary<string, string?> { ["Kinema:Animatic:FfmpegPath"] = link });
            (await ReadyzAsync(server)).Status.Should().Be(HttpStatusCode.OK);

            File.Delete(link);
            var (status, body) = await ReadyzAsync(server);

            status.Should().Be(HttpStatusCode.ServiceUnavailable);
            Checks(body)["ffmpeg"].Should().Be("unhealthy");
            Checks(body)["store"].Should().Be("healthy");
            Message(body, "ffmpeg").Should().Contain(link);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyzAsync(KinemaTestServer server)
    {
        using var response = await server.Anonymous.GetAsync("/readyz");
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private static Dictionary<string, string> Checks(JsonElement body) =>
        body.GetProperty("checks").EnumerateArray().ToDictionary(
            check => check.GetProperty("name").GetString()!, check => check.GetProperty("status").GetString()!);

    private static string Message(JsonElement body, string name) =>
        body.GetProperty("checks").EnumerateArray().Single(check => check.GetProperty("name").GetString() == name)
            .GetProperty("message").GetString()!;
}
