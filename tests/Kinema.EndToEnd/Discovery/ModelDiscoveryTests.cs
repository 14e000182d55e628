using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Contracts.Rules;
using Kinema.EndToEnd.Infrastructure;

namespace Kinema.EndToEnd.Discovery;

/// <summary>The aggregator client's discovery calls: the model list, the model schema, the replay header.</summary>
public sealed class ModelDiscoveryTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    [Fact]
    public async Task Models_lists_kling_v3_with_the_engines_that_serve_it()
    {
        using var document = JsonDocument.Parse(await Server.Alice.GetStringAsync("/v1/models"));
        var root = document.RootElement;

        root.GetProperty("object").GetString().Should().Be("list");
        var model = root.GetProperty("data").EnumerateArray().Should().ContainSingle().Subject;
        model.GetProperty("id").GetString().Should().Be("kling-v3");
        model.GetProperty("object").GetString().Should().Be("model");
        model.GetProperty("owned_by").GetString().Should().NotBeNullOrEmpty();
        model.GetProperty("created").GetInt64().Should().BePositive();
        model.GetProperty("operations").EnumerateArray().Select(o => o.GetString()).Should().Equal("video_generation");
        // No upstream credentials in tests: the built-in engine serves the model.
        model.GetProperty("engines").EnumerateArray().Select(e => e.GetString()).Should().Equal("animatic");
    }

    [Fact]
    public async Task Model_schema_is_the_rule_sets_schema()
    {
        var text = await Server.Alice.GetStringAsync("/v1/model-schema?model=kling-v3&operation=video_generation");
        var body = JsonNode.Parse(text)!.AsObject();

        body["model"]!.GetValue<string>().Should().Be("kling-v3");
        body["operation"]!.GetValue<string>().Should().Be("video_generation");
        JsonNode.DeepEquals(body["input_schema"], GenerationRequestSchema.ToJsonSchema()).Should().BeTrue(text);
        body["input_schema"]!["properties"]!["duration"]!["maximum"]!.GetValue<int>().Should().Be(15);
    }

    [Theory]
    [InlineData("?operation=video_generation", 400, "model")]
    [InlineData("?model=kling-v3", 400, "operation")]
    [InlineData("?model=kling-v9&operation=video_generation", 404, "model")]
    [InlineData("?model=kling-v3&operation=image_generation", 404, "operation")]
    public async Task Model_schema_refuses_an_unknown_or_missing_parameter_by_name(string query, int status, string param)
    {
        using var response = await Server.Alice.GetAsync("/v1/model-schema" + query);
        var text = await response.Content.ReadAsStringAsync();

        ((int)response.StatusCode).Should().Be(status, text);
        using var document = JsonDocument.Parse(text);
        var error = document.RootElement.GetProperty("error");
        error.GetProperty("code").GetInt32().Should().Be(status);
        error.GetProperty("param").GetString().Should().Be(param);
        error.GetProperty("type").GetString().Should().Be("invalid_request_error");
    }

    [Fact]
    public async Task Discovery_needs_an_api_key()
    {
        using var models = await Server.Anonymous.GetAsync("/v1/models");
        using var schema = await Server.Anonymous.GetAsync("/v1/model-schema?model=kling-v3&operation=video_generation");

        models.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        schema.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_replayed_create_says_so_under_both_header_names()
    {
        var key = Guid.NewGuid().ToString();
        async Task<HttpResponseMessage> CreateAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos/generations")
            {
                Content = new StringContent("""{"model":"kling-v3","prompt":"a replay","duration":3}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("Idempotency-Key", key);
            return await Server.Alice.SendAsync(request);
        }

        using var first = await CreateAsync();
        using var second = await CreateAsync();

        first.StatusCode.Should().Be(HttpStatusCode.OK);
        first.Headers.Contains("Idempotency-Replayed").Should().BeFalse();
        second.StatusCode.Should().Be(HttpStatusCode.OK);
        second.Headers.GetValues("Idempotency-Replayed").Should().Equal("true");
        second.Headers.GetValues("Idempotent-Replayed").Should().Equal("true");
        (await second.Content.ReadAsStringAsync()).Should().Be(await first.Content.ReadAsStringAsync());
    }
}
