using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;
using Kinema.Server.OpenAi;

namespace Kinema.Tests.Server;

/// <summary>OpenAI's create fields mapped onto the contract, and the contract's rules reported under OpenAI's names.</summary>
public sealed class VideoCreateFormTests
{
    [Theory]
    [InlineData("1280x720", "std", "16:9")]
    [InlineData("720x1280", "std", "9:16")]
    [InlineData("720x720", "std", "1:1")]
    [InlineData("1920x1080", "pro", "16:9")]
    [InlineData("1080x1920", "pro", "9:16")]
    [InlineData("1080x1080", "pro", "1:1")]
    [InlineData("3840x2160", "4k", "16:9")]
    [InlineData("2160x3840", "4k", "9:16")]
    [InlineData("2160x2160", "4k", "1:1")]
    public async Task Each_size_is_exactly_one_mode_and_aspect_ratio_and_reads_back_the_same(string size, string mode, string aspectRatio)
    {
        var (request, violations) = await new VideoCreateForm { Prompt = "p", Size = size }.ToRequestAsync(GenerationRuleOptions.Default, CancellationToken.None);

        violations.Should().BeEmpty();
        (request!.Mode, request.AspectRatio).Should().Be((mode, aspectRatio));
        VideoSizes.Of(request).Should().Be(size);
        request.Facade.Should().Be(new FacadeOrigin(FacadeOrigin.OpenAiVideos));
    }

    [Theory]
    [InlineData("1024x1792")]
    [InlineData("1792x1024")]
    [InlineData("1280X720")]
    [InlineData("")]
    public async Task A_size_kinema_cannot_make_is_refused_listing_the_valid_ones(string size)
    {
        var (request, violations) = await new VideoCreateForm { Prompt = "p", Size = size }.ToRequestAsync(GenerationRuleOptions.Default, CancellationToken.None);

        request.Should().BeNull();
        violations.Should().ContainSingle().Which.Param.Should().Be("size");
        violations[0].Message.Should().Contain(VideoSizes.Listed);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("16")]
    [InlineData("4.5")]
    [InlineData("four")]
    [InlineData("-5")]
    public async Task Seconds_outside_the_contracts_range_or_not_a_whole_number_are_refused(string seconds)
    {
        var (_, violations) = await new VideoCreateForm { Prompt = "p", Seconds = seconds }.ToRequestAsync(GenerationRuleOptions.Default, CancellationToken.None);

        violations.Should().ContainSingle().Which.Param.Should().Be("seconds");
    }

    [Fact]
    public async Task Omitted_fields_take_kling_v3_the_contracts_duration_and_1280x720()
    {
        var (request, _) = await new VideoCreateForm { Prompt = "p" }.ToRequestAsync(GenerationRuleOptions.Default, CancellationToken.None);

        request!.Model.Should().Be(ModelNames.KlingV3);
        request.Duration.Should().Be(GenerationRequestRules.DefaultDuration);
        VideoSizes.Of(request).Should().Be("1280x720");
        request.ImageUrls.Should().BeEmpty();
    }

    [Fact]
    public async Task An_image_url_is_checked_by_the_contracts_rules_and_named_input_reference()
    {
        var (_, violations) = await new VideoCreateForm { Prompt = "p", ReferenceUrl = "http://127.0.0.1/x.png" }
            .ToRequestAsync(GenerationRuleOptions.Default, CancellationToken.None);

        violations.Should().ContainSingle().Which.Param.Should().Be("input_reference");
        violations[0].Message.Should().StartWith("input_reference ");
    }

    [Theory]
    [InlineData("duration", "duration must be from 3 to 15 seconds, not 20", "seconds", "seconds must be from 3 to 15 seconds, not 20")]
    [InlineData("mode", "mode must be one of std, pro, 4k", "size", "mode must be one of std, pro, 4k")]
    [InlineData("image_urls[0]", "image_urls[0] is not an image", "input_reference", "input_reference is not an image")]
    [InlineData("prompt", "prompt must not be empty", "prompt", "prompt must not be empty")]
    public void Contract_rules_are_reported_under_openai_field_names(string param, string message, string expectedParam, string expectedMessage)
    {
        var mapped = VideoCreateForm.ToOpenAiField(new RuleViolation(param, message));

        mapped.Should().Be(new RuleViolation(expectedParam, expectedMessage));
    }
}
