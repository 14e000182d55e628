using System.Text.Json.Nodes;
using Kinema.Engines.ComfyUI;

namespace Kinema.Tests.Engines;

public sealed class ComfyUiWorkflowTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private string Write(string json)
    {
        var path = Path.Combine(_directory.Path, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    private static Dictionary<string, JsonValue> Values() =>
        ComfyUiWorkflow.Values("task_01ABC", "a \"quoted\" fox", null, 1280, 704, 5, 24, 123456789012, "first.png", null);

    [Fact]
    public void An_exact_placeholder_becomes_the_typed_value_and_an_embedded_one_becomes_text()
    {
        var workflow = ComfyUiWorkflow.Load(Write("""
            {"1":{"class_type":"CLIPTextEncode","inputs":{"text":"{{prompt}}","clip":["2",0]}},
             "2":{"class_type":"Latent","inputs":{"width":"{{width}}","height":"{{height}}","length":"{{frames}}","note":"{{width}}x{{height}}"}},
             "3":{"class_type":"KSampler","inputs":{"seed":"{{seed}}","negative":"{{negative_prompt}}"}},
             "4":{"class_type":"SaveVideo","inputs":{"filename_prefix":"kinema/{{task_id}}","fps":"{{fps}}","nested":{"list":["{{duration}}",1]}}}}
            """), imageToVideo: false);

        var graph = workflow.Fill(Values());

        graph["1"]!["inputs"]!["text"]!.GetValue<string>().Should().Be("a \"quoted\" fox");
        graph["1"]!["inputs"]!["clip"]!.ToJsonString().Should().Be("""["2",0]""", "links are left alone");
        graph["2"]!["inputs"]!["width"]!.GetValue<int>().Should().Be(1280);
        graph["2"]!["inputs"]!["length"]!.GetValue<int>().Should().Be(121);
        graph["2"]!["inputs"]!["note"]!.GetValue<string>().Should().Be("1280x704");
        graph["3"]!["inputs"]!["seed"]!.GetValue<long>().Should().Be(123456789012);
        graph["3"]!["inputs"]!["negative"]!.GetValue<string>().Should().BeEmpty();
        graph["4"]!["inputs"]!["filename_prefix"]!.GetValue<string>().Should().Be("kinema/task_01ABC");
        graph["4"]!["inputs"]!["nested"]!["list"]![0]!.GetValue<int>().Should().Be(5);
        workflow.Uses.Should().BeEquivalentTo(["prompt", "width", "height", "frames", "seed", "negative_prompt", "task_id", "fps", "duration"]);
    }

    [Fact]
    public void Filling_leaves_the_template_unchanged_for_the_next_task()
    {
        var workflow = ComfyUiWorkflow.Load(Write("""{"1":{"class_type":"CLIPTextEncode","inputs":{"text":"{{prompt}}"}}}"""), imageToVideo: false);

        workflow.Fill(Values());
        var second = workflow.Fill(ComfyUiWorkflow.Values("task_2", "second", null, 1, 1, 3, 24, 1, null, null));

        second["1"]!["inputs"]!["text"]!.GetValue<string>().Should().Be("second");
    }

    [Theory]
    [InlineData("""{"last_node_id":3,"nodes":[{"id":1,"type":"KSampler"}],"links":[]}""", "Export (API)")]
    [InlineData("""{"1":{"class_type":"CLIPTextEncode","inputs":{"text":"{{promt}}"}}}""", "unknown placeholder(s) {{promt}}")]
    [InlineData("""{"1":{"class_type":"CLIPTextEncode","inputs":{"text":"a fixed prompt"}}}""", "no \"{{prompt}}\" placeholder")]
    [InlineData("""[1,2]""", "not JSON in ComfyUI's API format")]
    [InlineData("""{}""", "no nodes")]
    [InlineData("""{"1":""", "not JSON")]
    public void A_file_that_is_not_a_fillable_workflow_is_refused_saying_why(string json, string says) =>
        ComfyUiWorkflow.Check(Write(json), imageToVideo: false).Should().Contain(says);

    [Fact]
    public void An_image_workflow_needs_a_first_frame_input_and_a_missing_file_is_named()
    {
        ComfyUiWorkflow.Check(Write("""{"1":{"class_type":"CLIPTextEncode","inputs":{"text":"{{prompt}}"}}}"""), imageToVideo: true)
            .Should().Contain("{{first_frame}}");
        ComfyUiWorkflow.Check(Path.Combine(_directory.Path, "absent.json"), imageToVideo: false).Should().Contain("no workflow file at");
    }

    [Fact]
    public void The_prompt_id_is_a_stable_uuid_per_task_and_the_seed_a_stable_positive_number()
    {
        var id = ComfyUiEngine.PromptIdFor("task_01ABC");

        Guid.TryParseExact(id, "D", out var guid).Should().BeTrue();
        guid.Version.Should().Be(5);
        ComfyUiEngine.PromptIdFor("task_01ABC").Should().Be(id);
        ComfyUiEngine.PromptIdFor("task_01ABD").Should().NotBe(id);
        ComfyUiEngine.SeedFor("task_01ABC").Should().Be(ComfyUiEngine.SeedFor("task_01ABC")).And.BePositive().And.BeLessThan(1L << 48);
    }
}
