using System.Net;
using System.Text.Json;
using Kinema.Client;
using Kinema.EndToEnd.Cli;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd;

/// <summary>
/// The contract's <c>language</c> query parameter of <c>GET /v1/tasks/{task_id}</c> (en, zh, ko, ja) sets the language of
/// the response's messages: a failed task's error and a missing task's 404, over HTTP, the event stream, the SDK and the CLI.
/// </summary>
public sealed class MessageLanguageTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private string MissingImageTask =>
        $$"""{"model":"kling-v3","prompt":"x","duration":3,"image_urls":["{{fixture.Images.Url("missing.png")}}"]}""";

    [Theory]
    [InlineData("zh", "无法使用输入的图片：")]
    [InlineData("ko", "입력 이미지를 사용할 수 없습니다: ")]
    [InlineData("ja", "入力画像を使用できませんでした：")]
    [InlineData("ZH", "无法使用输入的图片：")]
    public async Task A_failed_task_s_error_leads_in_the_language_asked_for_and_keeps_the_detail(string language, string summary)
    {
        var id = await Server.Alice.CreateAsync(MissingImageTask);
        var english = (await Server.Alice.WaitForTerminalAsync(id)).GetProperty("error");

        var localized = (await GetAsync(id, language)).GetProperty("data").GetProperty("error");

        english.GetProperty("code").GetString().Should().Be("image_fetch_failed");
        localized.GetProperty("code").GetString().Should().Be("image_fetch_failed", "the code stays machine-readable");
        localized.GetProperty("message").GetString().Should().Be(summary + english.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("en")]
    [InlineData(null)]
    public async Task English_and_no_language_give_the_message_as_it_was_made(string? language)
    {
        var id = await Server.Alice.CreateAsync(MissingImageTask);
        await Server.Alice.WaitForTerminalAsync(id);

        var message = (await GetAsync(id, language)).GetProperty("data").GetProperty("error").GetProperty("message").GetString();

        message.Should().StartWith("image_urls[0]: ").And.Contain("404");
    }

    [Theory]
    [InlineData("zh", "此 API 密钥下没有 ID 为 'task_00000000000000000000000000' 的任务")]
    [InlineData("ko", "이 API 키로 ID가 'task_00000000000000000000000000'인 작업이 없습니다")]
    [InlineData("ja", "この API キーには ID が 'task_00000000000000000000000000' のタスクはありません")]
    [InlineData("en", "no task with id 'task_00000000000000000000000000' exists for this API key")]
    public async Task A_missing_task_s_404_is_in_the_language_asked_for(string language, string expected)
    {
        using var response = await Server.Alice.GetAsync($"/v1/tasks/task_00000000000000000000000000?language={language}");

        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        var error = (await ReadAsync(response)).GetProperty("error");
        (error.GetProperty("param").GetString(), error.GetProperty("message").GetString()).Should().Be(("task_id", expected));
    }

    [Theory]
    [InlineData("/v1/tasks/task_00000000000000000000000000?language=fr")]
    [InlineData("/v1/tasks/task_00000000000000000000000000?language=zh-CN")]
    [InlineData("/v1/tasks/task_00000000000000000000000000/events?language=")]
    public async Task A_language_the_contract_does_not_name_is_a_400_listing_the_four(string path)
    {
        using var response = await Server.Alice.GetAsync(path);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var error = (await ReadAsync(response)).GetProperty("error");
        error.GetProperty("type").GetString().Should().Be("invalid_request_error");
        (error.GetProperty("param").GetString(), error.GetProperty("message").GetString())
            .Should().Be(("language", "language must be one of en, zh, ko, ja"));
    }

    [Fact]
    public async Task The_event_stream_speaks_the_language_asked_for_and_still_shares_english_with_other_watchers()
    {
        var id = await Server.Alice.CreateAsync(MissingImageTask);
        var english = (await Server.Alice.WaitForTerminalAsync(id)).GetProperty("error").GetProperty("message").GetString();

        var japanese = await LastTaskEventAsync($"/v1/tasks/{id}/events?language=ja");
        var plain = await LastTaskEventAsync($"/v1/tasks/{id}/events");

        japanese.GetProperty("error").GetProperty("message").GetString().Should().Be("入力画像を使用できませんでした：" + english);
        plain.GetProperty("error").GetProperty("message").GetString().Should().Be(english);
    }

    [Fact]
    public async Task The_sdk_sends_its_language_and_its_failure_exception_carries_the_localized_message()
    {
        using var client = new KinemaClient(new KinemaClientOptions
        {
            BaseAddress = Server.BaseAddress, ApiKey = Server.AliceKey, PollInterval = TimeSpan.FromMilliseconds(200), Language = "ko",
        });
        var operation = await client.CreateAsync(
            Kinema.Client.GenerationRequests.ImageToVideo("x", fixture.Images.Url("missing.png"), duration: 3));

        var failure = (await FluentActions.Awaiting(() => operation.WaitForCompletionAsync())
            .Should().ThrowAsync<KinemaTaskFailedException>()).Which;
        var polled = await client.GetAsync(operation.Id);

        failure.FailureCode.Should().Be("image_fetch_failed");
        failure.Task.Error!.Message.Should().StartWith("입력 이미지를 사용할 수 없습니다: image_urls[0]: ");
        polled.Error!.Message.Should().Be(failure.Task.Error.Message);
    }

    [Fact]
    public void The_sdk_refuses_a_language_the_server_would_refuse_before_sending_anything()
    {
        var create = () => new KinemaClient(new KinemaClientOptions { BaseAddress = Server.BaseAddress, ApiKey = Server.AliceKey, Language = "fr" });

        create.Should().Throw<ArgumentException>()
            .WithMessage("KinemaClientOptions.Language must be one of en, zh, ko, ja, or null for the server's default; it is 'fr'*");
    }

    [Fact]
    public async Task The_cli_status_command_takes_a_language()
    {
        var id = await Server.Alice.CreateAsync(MissingImageTask);
        await Server.Alice.WaitForTerminalAsync(id);
        string[] connection = ["--server", Server.BaseAddress.ToString(), "--key", Server.AliceKey];

        var chinese = await CliRunner.RunAsync(["status", id, "--language", "zh", .. connection]);
        var french = await CliRunner.RunAsync(["status", id, "--language", "fr", .. connection]);

        chinese.Stdout.Should().Contain("无法使用输入的图片：image_urls[0]: ");
        french.ExitCode.Should().NotBe(0);
        french.Stderr.Should().Contain("--language must be one of en, zh, ko, ja, not 'fr'");
    }

    private async Task<JsonElement> GetAsync(string id, string? language)
    {
        using var response = await Server.Alice.GetAsync(language is null ? $"/v1/tasks/{id}" : $"/v1/tasks/{id}?language={language}");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return await ReadAsync(response);
    }

    private async Task<JsonElement> LastTaskEventAsync(string path)
    {
        using var response = await Server.Alice.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        // The task is terminal, so the stream sends it once and ends.
        var text = await response.Content.ReadAsStringAsync();
        var data = text.Split('\n').Last(line => line.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..];
        return JsonDocument.Parse(data).RootElement.Clone();
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }
}
