using System.Globalization;
using System.Text.Json.Nodes;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;
using Kinema.Server.Endpoints;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Kinema.Server.OpenApi;

/// <summary>
/// Completes the OpenAPI document that ASP.NET Core derives from the endpoints: the create body (which the handler
/// reads as raw JSON, so the framework cannot see it) written from <see cref="GenerationRequestSchema"/> — the rule set
/// the server enforces and <c>/v1/model-schema</c> publishes — with the contract's use cases as examples; the upload's
/// multipart body; the bearer scheme on every <c>/v1</c> operation; the idempotency headers.
/// </summary>
internal static class KinemaOpenApi
{
    public const string BearerScheme = "bearer";

    public static void Configure(OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            Describe(document);
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            Describe(operation, context);
            return Task.CompletedTask;
        });
    }

    private static void Describe(OpenApiDocument document)
    {
        document.Info.Title = "Kinema";
        document.Info.Description = "A self-hosted server for the Kling v3 video-generation API. Every /v1 call needs "
                                    + "'Authorization: Bearer <API key>'; every error answers with the ErrorResponse envelope.";
        document.AddComponent<IOpenApiSecurityScheme>(BearerScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key made by 'kinema keys create' (or printed by 'kinema serve' on first start).",
        });
        foreach (var rule in new[] { GenerationRequestSchema.Body, GenerationRequestSchema.Shot, GenerationRequestSchema.Element })
        {
            document.AddComponent<IOpenApiSchema>(rule.SchemaName!, ToSchema(rule, document, root: true));
        }

        foreach (var (path, item) in document.Paths)
        {
            if (!path.StartsWith("/v1/", StringComparison.Ordinal) || item.Operations is null)
            {
                continue;
            }

            foreach (var operation in item.Operations.Values)
            {
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] });
            }
        }
    }

    private static void Describe(OpenApiOperation operation, OpenApiOperationTransformerContext context)
    {
        var document = context.Document;
        switch (operation.OperationId)
        {
            case "CreateGeneration":
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = GenerationRequestSchema.Body.Description,
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/json"] = new()
                        {
                            Schema = new OpenApiSchemaReference(GenerationRequestSchema.Body.SchemaName!, document),
                            Examples = UseCases.ToDictionary(
                                useCase => useCase.Name,
                                useCase => (IOpenApiExample)new OpenApiExample { Summary = useCase.Summary, Value = JsonNode.Parse(useCase.Body) }),
                        },
                    },
                };
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = "Idempotency-Key",
                    In = ParameterLocation.Header,
                    Description = "At most 255 characters. The same key with the same body answers with the first task (and "
                                  + "Idempotency-Replayed: true); with another body, 409.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 255 },
                });
                if (operation.Responses?.TryGetValue("200", out var created) == true && created is OpenApiResponse ok)
                {
                    ok.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    ok.Headers["Idempotency-Replayed"] = new OpenApiHeader
                    {
                        Description = "true when the Idempotency-Key was seen before and this is the first task again (also sent as Idempotent-Replayed).",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("true")] },
                    };
                }

                break;
            case "UploadImage":
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["multipart/form-data"] = new()
                        {
                            Schema = new OpenApiSchema
                            {
                                Type = JsonSchemaType.Object,
                                Required = new HashSet<string> { UploadImageEndpoint.FieldName },
                                Properties = new Dictionary<string, IOpenApiSchema>
                                {
                                    [UploadImageEndpoint.FieldName] = new OpenApiSchema
                                    {
                                        Type = JsonSchemaType.String,
                                        Format = "binary",
                                        Description = "A JPEG, PNG or WebP image (a GIF is kept as a PNG of its first frame), judged by its bytes; at most Kinema:Fetch:MaxImageBytes (20 MiB) and MaxImagePixels.",
                                    },
                                },
                            },
                        },
                    },
                };
                break;
            case "GetModelSchema":
                foreach (var parameter in operation.Parameters ?? [])
                {
                    if (parameter is OpenApiParameter query)
                    {
                        query.Required = true;
                        query.Description = query.Name == "model" ? "The model, e.g. kling-v3." : $"The operation, e.g. {GenerationRequestSchema.Operation}.";
                    }
                }

                break;
            case "GetTask" or "WatchTask":
                foreach (var parameter in operation.Parameters ?? [])
                {
                    if (parameter is OpenApiParameter { Name: "language" } language)
                    {
                        language.Description = "The language of the response's human-readable messages (a failure's error.message, "
                                               + "a missing task's 404); en when absent. A failure leads with a sentence for its code "
                                               + "in that language and keeps the original detail after it.";
                        language.Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.String,
                            Enum = [.. MessageLanguages.All.Select(name => (JsonNode)JsonValue.Create(name))],
                            Default = JsonValue.Create(MessageLanguages.All[0]),
                        };
                    }
                }

                break;
        }
    }

    /// <summary>A field rule as an OpenAPI schema; named objects below the root become references to their components.</summary>
    private static IOpenApiSchema ToSchema(FieldRule rule, OpenApiDocument document, bool root = false)
    {
        if (!root && rule.SchemaName is { } name)
        {
            return new OpenApiSchemaReference(name, document);
        }

        var schema = new OpenApiSchema
        {
            Type = rule.Type switch
            {
                "string" => JsonSchemaType.String,
                "integer" => JsonSchemaType.Integer,
                "boolean" => JsonSchemaType.Boolean,
                "array" => JsonSchemaType.Array,
                _ => JsonSchemaType.Object,
            },
            Description = rule.Description,
            Minimum = rule.Minimum?.ToString(CultureInfo.InvariantCulture),
            Maximum = rule.Maximum?.ToString(CultureInfo.InvariantCulture),
            MinLength = rule.MinLength,
            MaxLength = rule.MaxLength,
            MinItems = rule.MinItems,
            MaxItems = rule.MaxItems,
            Pattern = rule.Pattern,
            Format = rule.Format,
            Deprecated = rule.Deprecated,
            Enum = rule.Values?.Select(value => (JsonNode)JsonValue.Create(value)).ToList(),
            Default = rule.Default switch
            {
                string text => JsonValue.Create(text),
                int number => JsonValue.Create(number),
                bool flag => JsonValue.Create(flag),
                _ => null,
            },
            Items = rule.Items is null ? null : ToSchema(rule.Items, document),
        };
        if (rule.Properties is not null)
        {
            schema.Properties = rule.Properties.ToDictionary(property => property.Name, property => ToSchema(property, document));
            schema.Required = rule.Required?.ToHashSet();
        }

        return schema;
    }

    /// <summary>The contract's published use cases (spec section 2) and the two it describes without a body.</summary>
    internal static readonly (string Name, string Summary, string Body)[] UseCases =
    [
        ("text_to_video", "Text to video",
            """{"model":"kling-v3","prompt":"a golden retriever running on the beach, sunset, cinematic","mode":"std","duration":5,"aspect_ratio":"16:9"}"""),
        ("pro_with_negative_prompt", "Professional mode, 10 s, with a negative prompt",
            """{"model":"kling-v3","prompt":"a lighthouse in a storm, waves crashing","mode":"pro","duration":10,"negative_prompt":"blurry, low quality, distorted"}"""),
        ("with_audio", "Text to video with audio",
            """{"model":"kling-v3","prompt":"a street band playing jazz at night","duration":15,"audio":true}"""),
        ("first_frame", "Image to video: the first frame",
            """{"model":"kling-v3","prompt":"the cat slowly turns its head and blinks","image_urls":["https://example.com/first.jpg"]}"""),
        ("first_and_last_frame", "Image to video: first and last frame",
            """{"model":"kling-v3","prompt":"the flower bud opens into a full bloom","image_urls":["https://example.com/first.jpg","https://example.com/last.jpg"]}"""),
        ("multi_shot", "Multi-shot storyboard (customize)",
            """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":15,"aspect_ratio":"9:16","audio":true,"multi_prompt":[{"index":1,"prompt":"wide shot of a beach at sunrise","duration":5},{"index":2,"prompt":"a dog runs into frame","duration":5},{"index":3,"prompt":"close-up of the dog shaking off water","duration":5}]}"""),
        ("elements", "Reference subjects mentioned as @name",
            """{"model":"kling-v3","prompt":"@element_dog chasing @element_cat on grass","image_urls":["https://example.com/garden.jpg"],"elements":[{"name":"element_dog","description":"a brown corgi","element_input_urls":["https://example.com/dog-front.jpg","https://example.com/dog-side.jpg"]},{"name":"element_cat","description":"a grey tabby cat","element_input_urls":["https://example.com/cat-front.jpg","https://example.com/cat-side.jpg"]}]}"""),
    ];
}
