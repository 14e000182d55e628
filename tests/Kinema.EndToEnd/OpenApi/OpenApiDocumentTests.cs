using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kinema.Contracts.Rules;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;

namespace Kinema.EndToEnd.OpenApi;

/// <summary>
/// <c>/openapi/v1.json</c> is complete enough to build a client from: it passes the Microsoft.OpenApi validator, its create
/// body is the rule set's schema with the contract's use cases as examples, every /v1 operation carries the bearer
/// scheme and the error envelope.
/// </summary>
public sealed class OpenApiDocumentTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private async Task<string> DocumentTextAsync() => await Server.Anonymous.GetStringAsync("/openapi/v1.json");

    [Fact]
    public async Task The_document_passes_the_openapi_validator_with_no_errors()
    {
        var text = await DocumentTextAsync();

        var result = OpenApiDocument.Parse(text, "json");

        result.Diagnostic!.Errors.Should().BeEmpty();
        var errors = result.Document!.Validate(ValidationRuleSet.GetDefaultRuleSet());
        errors.Should().BeEmpty();
        result.Document!.Paths.Should().ContainKeys("/v1/videos/generations", "/v1/models", "/v1/model-schema", "/v1/uploads/images");
    }

    [Fact]
    public async Task The_create_body_is_the_schema_of_model_schema()
    {
        var document = JsonNode.Parse(await DocumentTextAsync())!;
        var schemas = document["components"]!["schemas"]!;
        var body = document["paths"]!["/v1/videos/generations"]!["post"]!["requestBody"]!;

        body["required"]!.GetValue<bool>().Should().BeTrue();
        body["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>().Should().Be("#/components/schemas/CreateGenerationRequest");
        var published = GenerationRequestSchema.ToJsonSchema();
        var described = schemas["CreateGenerationRequest"]!;
        foreach (var (name, property) in published["properties"]!.AsObject())
        {
            Keywords(Resolve(described["properties"]![name]!, schemas)).Should().BeEquivalentTo(Keywords(property!), name);
        }
    }

    [Fact]
    public async Task Every_use_case_of_the_contract_is_an_example_the_rules_accept()
    {
        var document = JsonNode.Parse(await DocumentTextAsync())!;
        var examples = document["paths"]!["/v1/videos/generations"]!["post"]!["requestBody"]!["content"]!["application/json"]!["examples"]!.AsObject();

        examples.Select(e => e.Key).Should().Contain(["text_to_video", "first_frame", "first_and_last_frame", "multi_shot", "elements"]);
        foreach (var (name, example) in examples)
        {
            using var body = JsonDocument.Parse(example!["value"]!.ToJsonString());
            GenerationRequestRules.Parse(body.RootElement, GenerationRuleOptions.Default).Violations.Should().BeEmpty(name);
        }
    }

    [Fact]
    public async Task Every_v1_operation_needs_the_bearer_key_and_answers_errors_with_the_envelope()
    {
        var document = JsonNode.Parse(await DocumentTextAsync())!;
        document["components"]!["securitySchemes"]!["bearer"]!["scheme"]!.GetValue<string>().Should().Be("bearer");
        var operations = document["paths"]!.AsObject()
            .Where(path => path.Key.StartsWith("/v1/", StringComparison.Ordinal))
            .SelectMany(path => path.Value!.AsObject().Select(operation => (Name: $"{operation.Key} {path.Key}", Operation: operation.Value!)))
            .ToList();

        operations.Should().HaveCountGreaterThan(10);
        foreach (var (name, operation) in operations)
        {
            operation["security"]!.AsArray().Should().ContainSingle(name).Which!.AsObject().Select(s => s.Key).Should().Equal(["bearer"], name);
            var responses = operation["responses"]!.AsObject();
            responses.Select(r => r.Key).Should().Contain(["401", "500"], name);
            foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
            {
                response!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>()
                    .Should().Be("#/components/schemas/ErrorResponse", $"{name} {status}");
            }
        }
    }

    private static JsonNode Resolve(JsonNode schema, JsonNode schemas)
    {
        if (schema["$ref"] is { } reference)
        {
            return schemas[reference.GetValue<string>().Split('/')[^1]]!;
        }

        var copy = schema.DeepClone().AsObject();
        if (copy["items"] is { } items)
        {
            copy["items"] = Resolve(items, schemas).DeepClone();
        }

        if (copy["properties"] is JsonObject properties)
        {
            foreach (var (name, property) in properties.ToList())
            {
                properties[name] = Resolve(property!, schemas).DeepClone();
            }
        }

        return copy;
    }

    /// <summary>The validating keywords of a schema and its items and properties, as comparable strings.</summary>
    private static IEnumerable<string> Keywords(JsonNode schema, string path = "")
    {
        foreach (var keyword in new[] { "type", "enum", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "default", "required" })
        {
            if (schema[keyword] is { } value)
            {
                yield return $"{path}{keyword}={value.ToJsonString()}";
            }
        }

        if (schema["items"] is { } items)
        {
            foreach (var keyword in Keywords(items, path + "[]."))
            {
                yield return keyword;
            }
        }

        foreach (var (name, property) in schema["properties"]?.AsObject() ?? [])
        {
            foreach (var keyword in Keywords(property!, $"{path}{name}."))
            {
                yield return keyword;
            }
        }
    }
}
