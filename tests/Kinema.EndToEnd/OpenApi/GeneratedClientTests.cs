using System.Net.Http.Headers;
using System.Reflection;
using System.Runtime.Loader;
using Kinema.EndToEnd.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NSwag.CodeGeneration.CSharp;

namespace Kinema.EndToEnd.OpenApi;

/// <summary>
/// A client generated from <c>/openapi/v1.json</c> by NSwag (in process), compiled with Roslyn, creates a task against
/// the real server and reads it back: the document is enough to build a working client from.
/// </summary>
public sealed class GeneratedClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    // Written against the generated API only: the names NSwag derives from the document's operation ids and schemas.
    private const string Driver = """
        namespace Generated;

        public static class Driver
        {
            public static async System.Threading.Tasks.Task<string> RunAsync(System.Net.Http.HttpClient http, string baseUrl)
            {
                var client = new KinemaApiClient(http) { BaseUrl = baseUrl };
                var created = await client.CreateGenerationAsync("generated-client-1", new CreateGenerationRequest
                {
                    Model = CreateGenerationRequestModel.KlingV3,
                    Prompt = "a paper boat on a river",
                    Duration = 3,
                    Mode = CreateGenerationRequestMode.Std,
                    Aspect_ratio = CreateGenerationRequestAspect_ratio._11,
                });
                var taskId = System.Linq.Enumerable.Single(created.Data).Task_id;
                var task = await client.GetTaskAsync(taskId, null);
                var models = await client.ListModelsAsync();
                string refused = null;
                try
                {
                    await client.CreateGenerationAsync(null, new CreateGenerationRequest { Model = CreateGenerationRequestModel.KlingV3, Prompt = "too long", Duration = 20 });
                }
                catch (ApiException<ErrorResponse> exception)
                {
                    refused = exception.StatusCode + ":" + exception.Result.Error.Param;
                }

                return taskId + " " + task.Data.Status + " " + System.Linq.Enumerable.Single(models.Data).Id + " " + refused;
            }
        }
        """;

    [Fact]
    public async Task A_client_generated_from_the_document_creates_a_task_and_reads_it_back()
    {
        var json = await Server.Anonymous.GetStringAsync("/openapi/v1.json");
        var document = await NSwag.OpenApiDocument.FromJsonAsync(json);
        var settings = new CSharpClientGeneratorSettings
        {
            ClassName = "KinemaApiClient",
            UseBaseUrl = true,
            GenerateClientInterfaces = false,
            OperationNameGenerator = new NSwag.CodeGeneration.OperationNameGenerators.SingleClientFromOperationIdOperationNameGenerator(),
        };
        settings.CSharpGeneratorSettings.Namespace = "Generated";
        // NSwag's default, Newtonsoft.Json: its enum converter writes the schema's values ("1:1"); System.Text.Json's
        // writes the C# member names ("_11"), which no server of this contract accepts.
        settings.CSharpGeneratorSettings.JsonLibrary = NJsonSchema.CodeGeneration.CSharp.CSharpJsonLibrary.NewtonsoftJson;
        var code = new CSharpClientGenerator(document, settings).GenerateFile();

        var assembly = Compile(code, Driver);
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Server.AliceKey);
        var run = assembly.GetType("Generated.Driver")!.GetMethod("RunAsync")!;
        var answer = await (Task<string>)run.Invoke(null, [http, Server.BaseAddress.ToString().TrimEnd('/')])!;

        var parts = answer.Split(' ');
        parts[0].Should().StartWith("task_");
        parts[1].Should().BeOneOf("pending", "processing", "completed");
        parts[2].Should().Be("kling-v3");
        parts[3].Should().Be("400:duration", "the generated client reads the error envelope");
        var task = await Server.Alice.GetTaskAsync(parts[0]);
        task.GetProperty("status").GetString().Should().NotBe("failed");
    }

    private static Assembly Compile(params string[] sources)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
            .DistinctBy(Path.GetFileName)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create(
            "Kinema.GeneratedClient." + Guid.NewGuid().ToString("N"),
            sources.Select(source => CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))),
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        emitted.Success.Should().BeTrue(string.Join('\n', emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(20))
                                        + "\n--- generated ---\n" + sources[0]);
        image.Position = 0;
        return new AssemblyLoadContext("generated-client", isCollectible: true).LoadFromStream(image);
    }
}
