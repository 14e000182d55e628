using System.Text.Json;
using Kinema.Contracts.Rules;

namespace Kinema.EndToEnd.Playground;

/// <summary>
/// The page's <c>rules.js</c> mirrors <c>GenerationRequestRules</c>: run both on the same bodies and they must name the
/// same fields with the same messages, so a limit changed on one side and not the other fails here.
/// </summary>
[Collection(PlaygroundCollection.Name)]
public sealed class PlaygroundRulesParityTests(PlaygroundFixture fixture)
{
    private static readonly string Png = "data:image/png;base64," + Convert.ToBase64String(Kinema.Testing.TestImages.Solid(8, 8, SkiaSharp.SKColors.Red));

    private static readonly string[] Bodies =
    [
        """{"model":"kling-v3","prompt":"ok"}""",
        """{"model":"kling-v2","prompt":"ok"}""",
        """{"model":"kling-v3"}""",
        """{"model":"kling-v3","prompt":"   "}""",
        $$"""{"model":"kling-v3","prompt":"{{new string('p', 2501)}}","negative_prompt":"{{new string('n', 2501)}}"}""",
        """{"model":"kling-v3","prompt":"ok","mode":"8k","duration":2,"aspect_ratio":"4:3"}""",
        """{"model":"kling-v3","prompt":"ok","duration":16}""",
        """{"model":"kling-v3","multi_shot":true,"duration":6}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"random","duration":6}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"intelligence","duration":6}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6,"multi_prompt":[{"index":1,"prompt":"a","duration":2},{"index":2,"prompt":"b","duration":4}]}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6,"multi_prompt":[{"index":1,"prompt":"a","duration":2},{"index":3,"prompt":" ","duration":0}]}""",
        """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":9}]}""",
        $$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":7,"multi_prompt":[{{string.Join(",", Enumerable.Range(1, 7).Select(i => $$"""{"index":{{i}},"prompt":"s","duration":1}"""))}}]}""",
        $$"""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":3,"multi_prompt":[{"index":1,"prompt":"{{new string('s', 513)}}","duration":3}]}""",
        $$"""{"model":"kling-v3","prompt":"ok","image_urls":["{{Png}}","{{Png}}","{{Png}}"]}""",
        """{"model":"kling-v3","prompt":"ok","image_urls":["data:image/gif;base64,R0lGODlhAQABAAAAACw=","data:image/png;base64,"]}""",
        $$"""{"model":"kling-v3","prompt":"ok","elements":[{"name":"dog","description":"a dog","element_input_urls":["{{Png}}"]},{"name":"DOG","description":"","element_input_urls":["{{Png}}","{{Png}}"]},{"name":"bad name!","description":"{{new string('d', 501)}}","element_input_urls":["{{Png}}","{{Png}}"]}]}""",
        """{"model":"kling-v3","prompt":"ok","elements":[{"name":"a","description":"a","element_input_urls":[]},{"name":"b","description":"b","element_input_urls":[]},{"name":"c","description":"c","element_input_urls":[]},{"name":"d","description":"d","element_input_urls":[]}]}""",
    ];

    [Fact]
    public async Task The_page_and_the_server_find_the_same_broken_rules()
    {
        // One page for every body: a browser context per body would cost seconds each on a small machine.
        await using var playground = await PlaygroundPage.OpenAsync(fixture);
        foreach (var body in Bodies)
        {
            using var document = JsonDocument.Parse(body);
            var server = GenerationRequestRules.Parse(document.RootElement, GenerationRuleOptions.Default).Violations
                .Select(v => $"{v.Param}: {v.Message}").ToList();

            var page = await playground.Page.EvaluateAsync<string[]>("""
                async (body) => {
                  const { validate } = await import('/playground/rules.js');
                  return validate(JSON.parse(body)).map((v) => `${v.param}: ${v.message}`);
                }
                """, body);

            page.Should().Equal(server, "rules.js must judge {0} as the server does", body.Length > 120 ? body[..120] + "…" : body);
        }
    }
}
