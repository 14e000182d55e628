using Kinema.Testing;
using System.Text.RegularExpressions;
using Kinema.Core.Tasks;
using Kinema.Server.Results;

namespace Kinema.Tests.Server;

public sealed partial class TaskMessagesTests
{
    [Theory]
    [InlineData(null, "English")]
    [InlineData("en", "English")]
    [InlineData("zh", "Chinese")]
    [InlineData("KO", "Korean")]
    [InlineData("Ja", "Japanese")]
    public void Reads_the_contract_s_four_names_in_any_case(string? wire, string expected)
    {
        TaskMessages.TryParse(wire, out var language).Should().BeTrue();
        language.ToString().Should().Be(expected);
    }

    [Theory]
    [InlineData("")]
    [InlineData("fr")]
    [InlineData("zh-CN")]
    [InlineData("english")]
    public void Refuses_anything_else(string wire)
    {
        TaskMessages.TryParse(wire, out _).Should().BeFalse();
    }

    [Fact]
    public void English_is_the_message_as_the_engine_wrote_it()
    {
        var failure = new TaskFailure("render_failed", "ffmpeg exited with code 1");

        TaskMessages.Failure(failure, MessageLanguage.English).Should().Be("ffmpeg exited with code 1");
    }

    [Fact]
    public void A_code_without_a_sentence_of_its_own_gets_the_generic_one_and_keeps_its_detail()
    {
        var failure = new TaskFailure("made_up_code", "something odd");

        TaskMessages.Failure(failure, MessageLanguage.Chinese).Should().Be("任务失败：something odd");
        TaskMessages.Failure(failure, MessageLanguage.Korean).Should().Be("작업이 실패했습니다: something odd");
        TaskMessages.Failure(failure, MessageLanguage.Japanese).Should().Be("タスクが失敗しました：something odd");
    }

    [Fact]
    public void An_empty_detail_leaves_just_the_sentence()
    {
        TaskMessages.Failure(new TaskFailure("content_policy", ""), MessageLanguage.Japanese)
            .Should().Be("リクエストはコンテンツポリシーにより拒否されました");
    }

    [Fact]
    public void Every_failure_code_the_server_can_write_has_a_sentence_in_each_language()
    {
        var source = Path.Combine(Repository.Root, "src");
        var thrown = Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories)
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(path => FailureCode().Matches(File.ReadAllText(path)).Select(match => match.Groups["code"].Value))
            .ToHashSet(StringComparer.Ordinal);

        thrown.Should().Contain(["render_failed", "image_fetch_failed", "content_policy", "archive_failed"],
            "the scan must find the codes it is meant to check, or it checks nothing");
        thrown.Should().BeSubsetOf(TaskMessages.CataloguedCodes);

        foreach (var code in TaskMessages.CataloguedCodes)
        {
            var generic = TaskMessages.Failure(new TaskFailure("made_up_code", ""), MessageLanguage.Korean);
            TaskMessages.Failure(new TaskFailure(code, ""), MessageLanguage.Korean).Should().NotBe(generic, code);
        }
    }

    // new EngineFailureException("code", …), new UpstreamException(kind, "code", …) and new TaskFailure("code", …).
    [GeneratedRegex("""new (?:EngineFailureException\(\s*|TaskFailure\(\s*|UpstreamException\(\s*[A-Za-z.]+,\s*)"(?<code>[a-z_]+)""")]
    private static partial Regex FailureCode();
}
