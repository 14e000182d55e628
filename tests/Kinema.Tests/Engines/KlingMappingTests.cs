using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kinema.Contracts.Requests;
using Kinema.Core.Engines;
using Kinema.Engines.Kling;
using Microsoft.AspNetCore.WebUtilities;

namespace Kinema.Tests.Engines;

public sealed class KlingMappingTests
{
    private static GenerationRequest Text(string prompt = "a fox") => new() { Model = "kling-v3", Prompt = prompt };

    [Fact]
    public void Text_to_video_maps_every_field()
    {
        var (endpoint, body) = KlingRequestMapper.Map(
            Text() with { Mode = "4k", Duration = 12, AspectRatio = "1:1", NegativePrompt = "blur", Audio = true, Watermark = true },
            "kling-v3", "task_X", new Uri("https://kinema.example/callbacks/kling/task_X?token=t"));

        endpoint.Should().Be("text2video");
        body["model_name"]!.GetValue<string>().Should().Be("kling-v3");
        body["prompt"]!.GetValue<string>().Should().Be("a fox");
        body["negative_prompt"]!.GetValue<string>().Should().Be("blur");
        body["mode"]!.GetValue<string>().Should().Be("4k");
        body["duration"]!.GetValue<string>().Should().Be("12");
        body["aspect_ratio"]!.GetValue<string>().Should().Be("1:1");
        body["sound"]!.GetValue<string>().Should().Be("on");
        body["watermark_info"]!["enabled"]!.GetValue<bool>().Should().BeTrue();
        body["external_task_id"]!.GetValue<string>().Should().Be("task_X");
        body["callback_url"]!.GetValue<string>().Should().StartWith("https://kinema.example/callbacks/");
    }

    [Fact]
    public void Defaults_send_sound_off_and_no_watermark()
    {
        var (_, body) = KlingRequestMapper.Map(Text(), "kling-v3", "task_X", null);

        body["sound"]!.GetValue<string>().Should().Be("off");
        body["watermark_info"]!["enabled"]!.GetValue<bool>().Should().BeFalse();
        body["duration"]!.GetValue<string>().Should().Be("5");
        body.ContainsKey("callback_url").Should().BeFalse();
        body.ContainsKey("negative_prompt").Should().BeFalse();
    }

    [Fact]
    public void Image_to_video_sends_image_and_tail_and_strips_data_uri_prefixes()
    {
        var (endpoint, body) = KlingRequestMapper.Map(
            Text() with { ImageUrls = ["data:image/png;base64,QUJD", "https://e.com/last.jpg"] }, "kling-v3", "t", null);

        endpoint.Should().Be("image2video");
        body["image"]!.GetValue<string>().Should().Be("QUJD");
        body["image_tail"]!.GetValue<string>().Should().Be("https://e.com/last.jpg");
        body.ContainsKey("aspect_ratio").Should().BeFalse("image2video takes the picture's ratio");
    }

    [Fact]
    public void Multi_shot_customize_sends_shots_with_string_durations()
    {
        var request = new GenerationRequest
        {
            Model = "kling-v3",
            MultiShot = true,
            ShotType = ShotTypes.Customize,
            Duration = 9,
            MultiPrompt = [new Shot(1, "a", 4), new Shot(2, "b", 5)],
        };

        var (_, body) = KlingRequestMapper.Map(request, "kling-v3", "t", null);

        body["multi_shot"]!.GetValue<bool>().Should().BeTrue();
        body["shot_type"]!.GetValue<string>().Should().Be("customize");
        body["prompt"]!.GetValue<string>().Should().BeEmpty();
        body["multi_prompt"]!.ToJsonString().Should().Be("""[{"index":1,"prompt":"a","duration":"4"},{"index":2,"prompt":"b","duration":"5"}]""");
    }

    [Fact]
    public void Intelligence_sends_the_prompt_for_the_model_to_split()
    {
        var request = new GenerationRequest { Model = "kling-v3", MultiShot = true, ShotType = ShotTypes.Intelligence, Prompt = "One. Two.", Duration = 6 };

        var (_, body) = KlingRequestMapper.Map(request, "kling-v3", "t", null);

        body["shot_type"]!.GetValue<string>().Should().Be("intelligence");
        body["prompt"]!.GetValue<string>().Should().Be("One. Two.");
        body.ContainsKey("multi_prompt").Should().BeFalse();
    }

    [Fact]
    public void Elements_need_a_first_frame_and_fit_the_element_library()
    {
        var dog = new Element("dog", "d", ["https://e/1", "https://e/2"]);

        KlingRequestMapper.Unsupported(Text() with { Elements = [dog] }).Should().ContainSingle().Which.Param.Should().Be("elements");
        KlingRequestMapper.Unsupported(Text() with { ImageUrls = ["https://e/0"], Elements = [dog] }).Should().BeEmpty();
        KlingRequestMapper.Unsupported(Text() with { ImageUrls = ["https://e/0"], Elements = [dog with { Description = new string('x', 101) }] })
            .Should().ContainSingle().Which.Param.Should().Be("elements[0].description");
        KlingRequestMapper.Unsupported(Text()).Should().BeEmpty();
    }

    [Fact]
    public void Element_ids_go_in_element_list_and_elements_become_library_bodies()
    {
        var (_, body) = KlingRequestMapper.Map(Text() with { ImageUrls = ["https://e/0"] }, "kling-v3", "t", null, [11, 12]);
        var element = KlingRequestMapper.ElementBody(new Element("dog", "a dog", ["data:image/png;base64,QUJD", "https://e/2", "https://e/3"]), "t-e0");

        body["element_list"]!.ToJsonString().Should().Be("""[{"element_id":11},{"element_id":12}]""");
        element.ToJsonString().Should().Be(
            """{"element_name":"dog","element_description":"a dog","reference_type":"image_refer","element_image_list":{"frontal_image":"QUJD","refer_images":[{"image_url":"https://e/2"},{"image_url":"https://e/3"}]},"external_task_id":"t-e0"}""");
    }

    [Fact]
    public void Jwt_is_hs256_with_issuer_expiry_and_not_before_as_documented()
    {
        var now = new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

        var token = KlingToken.Create("ak_1", "secret", now, now.AddMinutes(30));

        var parts = token.Split('.');
        parts.Should().HaveCount(3);
        using var header = JsonDocument.Parse(WebEncoders.Base64UrlDecode(parts[0]));
        using var claims = JsonDocument.Parse(WebEncoders.Base64UrlDecode(parts[1]));
        header.RootElement.GetProperty("alg").GetString().Should().Be("HS256");
        header.RootElement.GetProperty("typ").GetString().Should().Be("JWT");
        claims.RootElement.GetProperty("iss").GetString().Should().Be("ak_1");
        claims.RootElement.GetProperty("exp").GetInt64().Should().Be(now.AddMinutes(30).ToUnixTimeSeconds());
        claims.RootElement.GetProperty("nbf").GetInt64().Should().Be(now.ToUnixTimeSeconds() - 5);
        // Verified independently of the signer: HMAC-SHA256 of "header.payload" with the secret key.
        var expected = WebEncoders.Base64UrlEncode(HMACSHA256.HashData("secret"u8.ToArray(), Encoding.ASCII.GetBytes(parts[0] + "." + parts[1])));
        parts[2].Should().Be(expected);
    }

    [Fact]
    public void Token_is_reused_until_shortly_before_expiry()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var token = new KlingToken("ak", "sk", time);

        var first = token.Get();
        time.Advance(TimeSpan.FromMinutes(20));
        var reused = token.Get();
        time.Advance(TimeSpan.FromMinutes(6));
        var renewed = token.Get();

        reused.Should().Be(first);
        renewed.Should().NotBe(first);
    }

    [Theory]
    [InlineData(401, 1004, null)]
    [InlineData(401, 1003, null)]
    [InlineData(401, 1002, UpstreamErrorKind.AccountRefused)]
    [InlineData(429, 1101, UpstreamErrorKind.AccountRefused)]
    [InlineData(403, 1103, UpstreamErrorKind.AccountRefused)]
    [InlineData(400, 1201, UpstreamErrorKind.RequestRefused)]
    [InlineData(404, 1203, UpstreamErrorKind.NotFound)]
    [InlineData(400, 1301, UpstreamErrorKind.RequestRefused)]
    [InlineData(429, 1303, UpstreamErrorKind.RateLimited)]
    [InlineData(429, 1304, UpstreamErrorKind.AccountRefused)]
    [InlineData(500, 5000, UpstreamErrorKind.Transient)]
    [InlineData(503, 5001, UpstreamErrorKind.Transient)]
    [InlineData(502, null, UpstreamErrorKind.Transient)]
    public void Documented_error_codes_map_to_what_kinema_does(int status, int? code, UpstreamErrorKind? kind)
    {
        var failure = KlingEngine.MapError((HttpStatusCode)status, code, "m", null);

        if (kind is null)
        {
            failure.Should().BeNull("the token is renewed and the call retried once");
        }
        else
        {
            failure!.Kind.Should().Be(kind.Value);
        }
    }

    [Fact]
    public void Rate_limits_back_off_at_least_one_second()
    {
        KlingEngine.MapError(HttpStatusCode.TooManyRequests, 1303, "busy", null)!.RetryAfter.Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1));
        KlingEngine.MapError(HttpStatusCode.TooManyRequests, 1303, "busy", TimeSpan.FromSeconds(7))!.RetryAfter.Should().Be(TimeSpan.FromSeconds(7));
    }

    [Fact]
    public void Poll_schedule_backs_off_with_age_and_honours_retry_after()
    {
        var options = new Kinema.Core.Upstream.UpstreamOptions { FirstPoll = TimeSpan.FromSeconds(5), MaxPollInterval = TimeSpan.FromSeconds(30) };

        Kinema.Core.Upstream.PollSchedule.NextDelay(TimeSpan.FromSeconds(10), options).Should().Be(TimeSpan.FromSeconds(5));
        Kinema.Core.Upstream.PollSchedule.NextDelay(TimeSpan.FromMinutes(5), options).Should().Be(TimeSpan.FromSeconds(10));
        Kinema.Core.Upstream.PollSchedule.NextDelay(TimeSpan.FromMinutes(30), options).Should().Be(TimeSpan.FromSeconds(20));
        Kinema.Core.Upstream.PollSchedule.NextDelay(TimeSpan.FromMinutes(30), options, transientErrors: 5).Should().Be(TimeSpan.FromSeconds(30));
        Kinema.Core.Upstream.PollSchedule.NextDelay(TimeSpan.FromSeconds(10), options, TimeSpan.FromSeconds(60)).Should().Be(TimeSpan.FromSeconds(60));
    }
}
