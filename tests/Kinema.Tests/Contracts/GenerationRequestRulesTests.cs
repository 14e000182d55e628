using System.Text.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;

namespace Kinema.Tests.Contracts;

public sealed class GenerationRequestRulesTests
{
    // A real image: data URIs are checked down to their header at submit.
    private static readonly string Png = Kinema.Testing.TestImages.DataUri(Kinema.Testing.TestImages.Solid(8, 8, SkiaSharp.SKColors.Red));

    private static ParsedRequest Parse(string json, bool allowPrivate = false)
    {
        using var document = JsonDocument.Parse(json);
        return GenerationRequestRules.Parse(document.RootElement.Clone(), new GenerationRuleOptions { AllowPrivateNetworks = allowPrivate });
    }

    public static TheoryData<string> PublishedUseCases => new()
    {
        """{"model":"kling-v3","prompt":"a golden retriever running on the beach, sunset, cinematic","mode":"std","duration":5,"aspect_ratio":"16:9"}""",
        """{"model":"kling-v3","prompt":"a lighthouse","mode":"pro","duration":10,"negative_prompt":"blurry, low quality, distorted"}""",
        """{"model":"kling-v3","prompt":"clouds","duration":15}""",
        """{"model":"kling-v3","prompt":"a red wall","image_urls":["https://example.com/first.jpg"]}""",
        """{"model":"kling-v3","prompt":"red to blue","image_urls":["https://example.com/first.jpg","https://example.com/last.jpg"]}""",
        """{"model":"kling-v3","prompt":"a jazz band","audio":true}""",
        """
        {"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":15,"aspect_ratio":"9:16","audio":true,
         "multi_prompt":[{"index":1,"prompt":"Two friends talking.","duration":5},{"index":2,"prompt":"A runner.","duration":5},
                         {"index":3,"prompt":"A sunset.","duration":5}]}
        """,
        """{"model":"kling-v3","prompt":"a city","mode":"4k"}""",
        """{"model":"kling-v3","prompt":"@dog chasing @cat","elements":[{"name":"dog","description":"a dog","element_input_urls":["https://example.com/a.jpg","https://example.com/b.jpg"]},{"name":"cat","description":"a cat","element_input_urls":["https://example.com/c.jpg","https://example.com/d.jpg","https://example.com/e.jpg","https://example.com/f.jpg"]}]}""",
        """{"model":"kling-v3","prompt":"@dog","kling_elements":[{"name":"dog","description":"a dog","element_input_urls":["https://example.com/a.jpg","https://example.com/b.jpg"]}]}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"intelligence","prompt":"One. Two. Three.","duration":9}""",
        """{"model":"kling-v3","prompt":"first then last","image_urls":["https://example.com/first.jpg"],"last_frame_image":"https://example.com/last.jpg"}""",
        """{"model":"kling-v3","prompt":"x","duration":3,"watermark":false,"audio":null,"seed":7,"unknown":{"nested":[1]}}""",
        $$"""{"model":"kling-v3","prompt":"inline","image_urls":["{{Png}}"]}""",
    };

    [Theory]
    [MemberData(nameof(PublishedUseCases))]
    public void Parse_accepts_every_published_use_case(string json)
    {
        var parsed = Parse(json);

        parsed.Violations.Should().BeEmpty();
        parsed.IsValid.Should().BeTrue();
    }

    [Fact]
    public void Parse_applies_the_contract_defaults()
    {
        var request = Parse("""{"model":"kling-v3","prompt":"x"}""").Request!;

        request.Mode.Should().Be("std");
        request.Duration.Should().Be(5);
        request.AspectRatio.Should().Be("16:9");
        request.Watermark.Should().BeFalse();
        request.Audio.Should().BeFalse();
        request.MultiShot.Should().BeFalse();
        request.ImageUrls.Should().BeEmpty();
        request.IsImageToVideo.Should().BeFalse();
    }

    [Fact]
    public void Last_frame_image_becomes_the_second_image()
    {
        var request = Parse("""{"model":"kling-v3","prompt":"x","image_urls":["https://e.com/1.jpg"],"last_frame_image":"https://e.com/2.jpg"}""").Request!;

        request.ImageUrls.Should().Equal("https://e.com/1.jpg", "https://e.com/2.jpg");
    }

    [Theory]
    // body, expected param, message fragment
    [InlineData("""{"prompt":"x"}""", "model", "required")]
    [InlineData("""{"model":"kling-v2","prompt":"x"}""", "model", "kling-v3")]
    [InlineData("""{"model":3,"prompt":"x"}""", "model", "JSON string")]
    [InlineData("""{"model":"kling-v3"}""", "prompt", "required")]
    [InlineData("""{"model":"kling-v3","prompt":"   "}""", "prompt", "empty")]
    [InlineData("""{"model":"kling-v3","prompt":["x"]}""", "prompt", "JSON string")]
    [InlineData("""{"model":"kling-v3","prompt":"x","duration":"6"}""", "duration", "not a string")]
    [InlineData("""{"model":"kling-v3","prompt":"x","duration":5.5}""", "duration", "whole number")]
    [InlineData("""{"model":"kling-v3","prompt":"x","duration":2}""", "duration", "3 to 15")]
    [InlineData("""{"model":"kling-v3","prompt":"x","duration":16}""", "duration", "3 to 15")]
    [InlineData("""{"model":"kling-v3","prompt":"x","duration":true}""", "duration", "JSON integer")]
    [InlineData("""{"model":"kling-v3","prompt":"x","mode":"8k"}""", "mode", "std, pro, 4k")]
    [InlineData("""{"model":"kling-v3","prompt":"x","mode":"STD"}""", "mode", "std, pro, 4k")]
    [InlineData("""{"model":"kling-v3","prompt":"x","aspect_ratio":"4:3"}""", "aspect_ratio", "16:9, 9:16, 1:1")]
    [InlineData("""{"model":"kling-v3","prompt":"x","watermark":"yes"}""", "watermark", "JSON boolean")]
    [InlineData("""{"model":"kling-v3","prompt":"x","audio":1}""", "audio", "JSON boolean")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":"https://e.com/a.jpg"}""", "image_urls", "JSON array")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":[7]}""", "image_urls[0]", "JSON string")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":["https://e.com/1.jpg","https://e.com/2.jpg","https://e.com/3.jpg"]}""", "image_urls", "at most 2")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":["ftp://e.com/1.jpg"]}""", "image_urls[0]", "https://")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":[""]}""", "image_urls[0]", "empty")]
    [InlineData("""{"model":"kling-v3","prompt":"x","last_frame_image":"https://e.com/2.jpg"}""", "last_frame_image", "last frame alone")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":["https://e.com/1.jpg","https://e.com/2.jpg"],"last_frame_image":"https://e.com/3.jpg"}""", "last_frame_image", "cannot be combined")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":5}]}""", "shot_type", "required")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"auto","duration":5}""", "shot_type", "customize")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5}""", "multi_prompt", "required")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[]}""", "multi_prompt", "required")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"intelligence","duration":5}""", "prompt", "intelligence")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":2,"prompt":"a","duration":5}]}""", "multi_prompt[0].index", "must be 1")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6,"multi_prompt":[{"index":1,"prompt":"a","duration":3},{"index":3,"prompt":"b","duration":3}]}""", "multi_prompt[1].index", "continuous")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"","duration":5}]}""", "multi_prompt[0].prompt", "empty")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":0},{"index":2,"prompt":"b","duration":5}]}""", "multi_prompt[0].duration", "at least 1")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":"5"}]}""", "multi_prompt[0].duration", "not a string")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":6}]}""", "multi_prompt[0].duration", "must not exceed")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":10,"multi_prompt":[{"index":1,"prompt":"a","duration":3},{"index":2,"prompt":"b","duration":3}]}""", "multi_prompt", "add up to 6")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"duration":5}]}""", "multi_prompt[0].prompt", "required")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":["a"]}""", "multi_prompt[0]", "object")]
    [InlineData("""{"model":"kling-v3","multi_shot":"true","prompt":"x"}""", "multi_shot", "JSON boolean")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":{}}""", "elements", "JSON array")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""", "elements[0].name", "required")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"dog","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""", "elements[0].description", "required")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"dog","description":"d"}]}""", "elements[0].element_input_urls", "required")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"dog","description":"d","element_input_urls":["https://e.com/1.jpg"]}]}""", "elements[0].element_input_urls", "2 to 4")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"dog","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg","https://e.com/3.jpg","https://e.com/4.jpg","https://e.com/5.jpg"]}]}""", "elements[0].element_input_urls", "2 to 4")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"my dog","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""", "elements[0].name", "@name")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"dog","description":"d","element_input_urls":["https://e.com/1.jpg","file:///etc/passwd"]}]}""", "elements[0].element_input_urls[1]", "https://")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[{"name":"a","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]},{"name":"A","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""", "elements[1].name", "unique")]
    [InlineData("""{"model":"kling-v3","prompt":"x","elements":[],"kling_elements":[]}""", "kling_elements", "not both")]
    [InlineData("""{"model":"kling-v3","prompt":"x","callback_url":"http://127.0.0.1/hook"}""", "callback_url", "loopback")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":["https://e.com/1.jpg"],"last_frame_image":"ftp://e.com/2.jpg"}""", "last_frame_image", "https://")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":["https://e.com/1.jpg"],"last_frame_image":""}""", "last_frame_image", "empty")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1.5,"prompt":"a","duration":5}]}""", "multi_prompt[0].index", "whole number")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":"1","prompt":"a","duration":5}]}""", "multi_prompt[0].index", "not a string")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":5.5}]}""", "multi_prompt[0].duration", "whole number")]
    [InlineData("""{"model":"kling-v3","prompt":"x","image_urls":["http://169.254.169.254/latest/meta-data"]}""", "image_urls[0]", "link-local")]
    public void Parse_reports_the_broken_rule_by_field(string json, string param, string fragment)
    {
        var parsed = Parse(json);

        parsed.IsValid.Should().BeFalse();
        parsed.Request.Should().BeNull();
        parsed.Violations.Should().Contain(v => v.Param == param, $"violations were: {string.Join(" | ", parsed.Violations)}");
        var violation = parsed.Violations.First(v => v.Param == param);
        violation.Message.Should().Contain(fragment);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    [InlineData("null")]
    public void Parse_refuses_a_body_that_is_not_an_object(string json)
    {
        var parsed = Parse(json);

        parsed.Violations.Should().ContainSingle().Which.Message.Should().Contain("JSON object");
    }

    [Fact]
    public void Prompts_are_capped_at_2500_characters()
    {
        var ok = Parse($$"""{"model":"kling-v3","prompt":"{{new string('a', 2500)}}","negative_prompt":"{{new string('b', 2500)}}"}""");
        var tooLong = Parse($$"""{"model":"kling-v3","prompt":"{{new string('a', 2501)}}","negative_prompt":"{{new string('b', 2501)}}"}""");

        ok.IsValid.Should().BeTrue();
        tooLong.Violations.Select(v => v.Param).Should().BeEquivalentTo(["prompt", "negative_prompt"]);
        tooLong.Violations[0].Message.Should().Contain("2500");
    }

    [Fact]
    public void A_shot_index_that_is_no_integer_is_not_called_seconds()
    {
        var index = Parse("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":3,"multi_prompt":[{"index":1.5,"prompt":"a","duration":3}]}""");
        var duration = Parse("""{"model":"kling-v3","duration":5.5}""");

        index.Violations.Should().ContainSingle().Which.Message.Should().Be("multi_prompt[0].index must be a whole number, not 1.5");
        duration.Violations.Should().ContainSingle().Which.Message.Should().Be("duration must be a whole number of seconds, not 5.5");
    }

    [Fact]
    public void Prompt_caps_count_characters_as_the_schema_does_so_an_emoji_is_one()
    {
        var emoji = "\U0001F600";
        var ok = Parse($$"""{"model":"kling-v3","prompt":"{{string.Concat(Enumerable.Repeat(emoji, 2500))}}","negative_prompt":"{{string.Concat(Enumerable.Repeat(emoji, 2500))}}"}""");
        var tooLong = Parse($$"""{"model":"kling-v3","prompt":"{{string.Concat(Enumerable.Repeat(emoji, 2501))}}"}""");
        var shot = Parse($$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"{{string.Concat(Enumerable.Repeat(emoji, 512))}}","duration":5}]}""");
        var shotTooLong = Parse($$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"{{string.Concat(Enumerable.Repeat(emoji, 513))}}","duration":5}]}""");

        ok.IsValid.Should().BeTrue("2,500 emoji are 2,500 characters, though 5,000 UTF-16 units");
        tooLong.Violations.Should().ContainSingle().Which.Message.Should().Be("prompt must be at most 2500 characters (it has 2501)");
        shot.IsValid.Should().BeTrue();
        shotTooLong.Violations.Should().ContainSingle().Which.Message.Should().Contain("(it has 513)");
    }

    [Fact]
    public void Shot_prompts_are_capped_at_512_characters_and_shots_at_6()
    {
        var shots = string.Join(",", Enumerable.Range(1, 7).Select(i => $$"""{"index":{{i}},"prompt":"p","duration":1}"""));
        var tooMany = Parse($$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":7,"multi_prompt":[{{shots}}]}""");
        var tooLong = Parse($$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"{{new string('a', 513)}}","duration":5}]}""");
        var exactly = Parse($$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"{{new string('a', 512)}}","duration":5}]}""");

        tooMany.Violations.Should().ContainSingle(v => v.Param == "multi_prompt").Which.Message.Should().Contain("1 to 6");
        tooLong.Violations.Should().ContainSingle(v => v.Param == "multi_prompt[0].prompt").Which.Message.Should().Contain("512");
        exactly.IsValid.Should().BeTrue();
    }

    [Fact]
    public void Element_names_and_descriptions_are_capped()
    {
        var longName = new string('n', 65);
        var longDescription = new string('d', 501);

        var parsed = Parse($$"""{"model":"kling-v3","prompt":"x","elements":[{"name":"{{longName}}","description":"{{longDescription}}","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}]}""");

        parsed.Violations.Select(v => v.Param).Should().BeEquivalentTo(["elements[0].name", "elements[0].description"]);
        parsed.Violations.First(v => v.Param == "elements[0].description").Message.Should().Contain("500");
    }

    [Fact]
    public void Elements_are_capped_at_3()
    {
        var element = """{"name":"N","description":"d","element_input_urls":["https://e.com/1.jpg","https://e.com/2.jpg"]}""";
        var four = string.Join(",", Enumerable.Range(0, 4).Select(i => element.Replace("\"N\"", $"\"e{i}\"", StringComparison.Ordinal)));

        var parsed = Parse($$"""{"model":"kling-v3","prompt":"x","elements":[{{four}}]}""");

        parsed.Violations.Should().ContainSingle(v => v.Param == "elements").Which.Message.Should().Contain("at most 3");
    }

    [Fact]
    public void Several_broken_rules_are_reported_together()
    {
        var parsed = Parse("""{"model":"kling-v3","prompt":"x","duration":40,"mode":"8k","aspect_ratio":"4:3"}""");

        parsed.Violations.Select(v => v.Param).Should().BeEquivalentTo(["mode", "duration", "aspect_ratio"]);
    }

    [Fact]
    public void Shot_fields_are_ignored_outside_multi_shot_mode()
    {
        var request = Parse("""{"model":"kling-v3","prompt":"x","shot_type":"customize","multi_prompt":[{"index":9,"prompt":"","duration":0}]}""").Request!;

        request.ShotType.Should().BeNull();
        request.MultiPrompt.Should().BeEmpty();
    }

    [Fact]
    public void Private_network_urls_pass_only_when_explicitly_allowed()
    {
        const string json = """{"model":"kling-v3","prompt":"x","image_urls":["http://127.0.0.1:9000/a.png"]}""";

        Parse(json).IsValid.Should().BeFalse();
        Parse(json, allowPrivate: true).IsValid.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(PublishedUseCases))]
    public void Serialising_and_parsing_again_gives_the_same_request(string json)
    {
        var first = Parse(json).Request!;

        var again = Parse(GenerationRequestRules.ToJson(first)).Request!;

        GenerationRequestRules.ToJson(again).Should().Be(GenerationRequestRules.ToJson(first));
        again.Duration.Should().Be(first.Duration);
        again.ImageUrls.Should().Equal(first.ImageUrls);
        again.MultiPrompt.Should().Equal(first.MultiPrompt);
    }

    [Fact]
    public void Serialised_duration_is_a_json_integer()
    {
        var json = GenerationRequestRules.ToJson(new GenerationRequest { Model = "kling-v3", Prompt = "x", Duration = 6 });

        json.Should().Contain("\"duration\":6").And.NotContain("\"6\"");
    }

    [Fact]
    public void Validate_checks_a_typed_request_as_the_sdk_sends_it()
    {
        var request = new GenerationRequest
        {
            Model = "kling-v3",
            MultiShot = true,
            ShotType = ShotTypes.Customize,
            Duration = 10,
            MultiPrompt = [new Shot(1, "a", 4), new Shot(2, "b", 0)],
        };

        var violations = GenerationRequestRules.Validate(request, GenerationRuleOptions.Default);

        violations.Select(v => v.Param).Should().Contain(["multi_prompt[1].duration", "multi_prompt"]);
        violations.First(v => v.Param == "multi_prompt[1].duration").Message.Should().Be("multi_prompt[1].duration must be at least 1");
    }
}
