using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd;

/// <summary>Regressions of issue 12: lone surrogates and data-URI images are refused at submit, naming the field.</summary>
public sealed class InputHardeningTests : IAsyncLifetime
{
    private KinemaTestServer _server = null!;

    public async ValueTask InitializeAsync() =>
        // No workers (the accepted bodies need not render); a 64 KiB image cap so "over the byte cap" stays small.
        _server = await KinemaTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kinema:Scheduler:Enabled"] = "false",
            ["Kinema:Fetch:MaxImageBytes"] = "65536",
        });

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private async Task<HttpClient> AdminAsync()
    {
        var keys = (Kinema.Core.Tenants.IApiKeyStore)_server.Services.GetService(typeof(Kinema.Core.Tenants.IApiKeyStore))!;
        return _server.ClientFor((await keys.CreateAsync(new Kinema.Core.Tenants.NewApiKey("ops", IsAdmin: true), CancellationToken.None)).Key);
    }

    /// <summary>Asserts a 400 in the contract's envelope naming <paramref name="field"/>, with <paramref name="rule"/> in its message.</summary>
    private static async Task RefusedAsync(HttpResponseMessage response, string field, string rule)
    {
        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).Should().Be(400, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("param").GetString().Should().Be(field, text);
        error.GetProperty("message").GetString().Should().Contain(rule, text);
    }

    private static readonly string SmallPng = TestImages.DataUri(TestImages.Solid(64, 48, SKColors.Teal));

    public static TheoryData<string, string> LoneSurrogateBodies => new()
    {
        { "prompt", """{"model":"kling-v3","prompt":"a\ud800b"}""" },
        { "negative_prompt", """{"model":"kling-v3","prompt":"ok","negative_prompt":"x\udc00"}""" },
        { "model", """{"model":"kling-v3\ud800","prompt":"ok"}""" },
        { "callback_url", """{"model":"kling-v3","prompt":"ok","callback_url":"https://example.com/\ud800"}""" },
        { "image_urls[0]", """{"model":"kling-v3","prompt":"ok","image_urls":["https://example.com/\udfff.png"]}""" },
        { "last_frame_image", """{"model":"kling-v3","prompt":"ok","image_urls":["https://example.com/a.png"],"last_frame_image":"\ud800"}""" },
        { "multi_prompt[1].prompt", """{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":6,"multi_prompt":[{"index":1,"prompt":"one","duration":3},{"index":2,"prompt":"\ud83d","duration":3}]}""" },
        { "elements[0].description", """{"model":"kling-v3","prompt":"@dog","elements":[{"name":"dog","description":"\ude00 dog","element_input_urls":["https://example.com/a.jpg","https://example.com/b.jpg"]}]}""" },
        { "elements[0].element_input_urls[1]", """{"model":"kling-v3","prompt":"@dog","elements":[{"name":"dog","description":"dog","element_input_urls":["https://example.com/a.jpg","\ud800"]}]}""" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogateBodies))]
    public async Task Create_rejects_lone_surrogate_naming_the_field(string field, string body)
    {
        var error = await _server.Alice.PostErrorAsync(body, 400);

        error.GetProperty("param").GetString().Should().Be(field);
        error.GetProperty("message").GetString().Should().Contain("unpaired UTF-16 surrogate");
    }

    [Theory]
    [InlineData("/v1/admin/tenants", """{"id":"\ud800","max_in_flight":3}""", "id")]
    [InlineData("/v1/admin/keys", """{"name":"ok","tenant":"\udc00x"}""", "tenant")]
    [InlineData("/v1/admin/tenants/alice/credits", """{"amount":1,"note":"\ud83d"}""", "note")]
    [InlineData("/v1/videos", """{"model":"kling-v3","prompt":"ok","\ud4ee\uda8e":"a"}""", "\\ud4ee\\uda8e")]
    [InlineData("/v1/videos", """{"model":"kling-v3","prompt":"a\ud800b"}""", "prompt")]
    public async Task Newer_json_endpoints_refuse_lone_surrogates_by_name(string path, string body, string field)
    {
        using var admin = await AdminAsync();

        using var response = await admin.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        await RefusedAsync(response, field, "surrogate");
    }

    public static TheoryData<string, string, string, string> AccountFieldsOutOfBounds => new()
    {
        { "/v1/admin/keys", JsonSerializer.Serialize(new { name = new string('n', 101), tenant = "alice" }), "name", "at most 100 characters, not 101" },
        { "/v1/admin/keys", JsonSerializer.Serialize(new { name = "ok", tenant = new string('t', 5000) }), "tenant", "at most 100 characters, not 5000" },
        { "/v1/admin/keys", """{"name":"ok","tenant":"a\u0001b"}""", "tenant", "printable characters only" },
        { "/v1/admin/keys", """{"name":"a\u001bb"}""", "name", "printable characters only" },
        { "/v1/admin/keys", """{"name":"ok","rpm":1000001}""", "rpm", "1000000" },
        { "/v1/admin/tenants", JsonSerializer.Serialize(new { id = new string('i', 101) }), "id", "at most 100 characters, not 101" },
        { "/v1/admin/tenants/alice/credits", JsonSerializer.Serialize(new { amount = 5, note = new string('x', 501) }), "note", "at most 500 characters, not 501" },
        { "/v1/admin/tenants/alice/credits", """{"amount":5,"note":"bell\u0007"}""", "note", "no control characters but line breaks and tabs" },
    };

    [Theory]
    [MemberData(nameof(AccountFieldsOutOfBounds))]
    public async Task Admin_names_notes_and_limits_out_of_bounds_are_refused_by_name(string path, string body, string field, string rule)
    {
        using var admin = await AdminAsync();
        var keys = (Kinema.Core.Tenants.IApiKeyStore)_server.Services.GetService(typeof(Kinema.Core.Tenants.IApiKeyStore))!;
        var before = (await keys.ListAsync(CancellationToken.None)).Count;

        using var response = await admin.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        await RefusedAsync(response, field, rule);
        (await keys.ListAsync(CancellationToken.None)).Count.Should().Be(before);
    }

    [Fact]
    public async Task A_note_may_hold_line_breaks_and_tabs()
    {
        using var admin = await AdminAsync();
        using var tenant = await admin.PostAsync("/v1/admin/tenants", new StringContent("""{"id":"notes-tenant"}""", Encoding.UTF8, "application/json"));
        tenant.EnsureSuccessStatusCode();

        using var granted = await admin.PostAsync("/v1/admin/tenants/notes-tenant/credits",
            new StringContent(JsonSerializer.Serialize(new { amount = 7, note = "invoice 12\r\n\tprepaid " + new string('.', 470) }), Encoding.UTF8, "application/json"));

        var text = await granted.Content.ReadAsStringAsync();
        granted.StatusCode.Should().Be(System.Net.HttpStatusCode.OK, text);
        JsonDocument.Parse(text).RootElement.GetProperty("balance").GetInt64().Should().Be(7);
    }

    [Theory]
    [InlineData("/v1/admin/tenants/alice/credits", """{"amount":1,"note":"gift\u0000"}""", "note", "NUL")]
    [InlineData("/v1/admin/keys", """{"name":"ok","tenant":"a\u0000b"}""", "tenant", "NUL")]
    [InlineData("/v1/webhooks", """{"url":"https://example.com/\u0000hook"}""", "url", "control characters")]
    [InlineData("/v1/webhooks", """{"url":"https://example.com/\nhook"}""", "url", "control characters")]
    [InlineData("/v1/videos/generations", """{"model":"kling-v3","prompt":"ok","callback_url":"https://example.com/\u0001"}""", "callback_url", "control characters")]
    public async Task Fields_kept_in_columns_of_their_own_refuse_nul_and_urls_refuse_control_characters(string path, string body, string field, string rule)
    {
        // PostgreSQL's text cannot hold U+0000: before this these were 500s on that provider and quiet successes on SQLite.
        using var admin = await AdminAsync();

        using var response = await admin.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        await RefusedAsync(response, field, rule);
    }

    [Theory]
    [InlineData("GET", "/v1/tasks?model=kling-v3%00", "model", "printable")]
    [InlineData("GET", "/v1/tasks?model=", "model", "not empty; leave it out")]
    [InlineData("POST", "/v1/admin/tenants/alice%2500/credits", "tenant", "printable")]
    public async Task A_nul_in_a_query_or_twice_encoded_in_a_tenant_segment_is_refused_by_name(string method, string path, string field, string rule)
    {
        using var admin = await AdminAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = method == "POST" ? new StringContent("""{"amount":5}""", Encoding.UTF8, "application/json") : null,
        };

        using var response = await admin.SendAsync(request);
        await RefusedAsync(response, field, rule);
    }

    [Theory]
    [InlineData("/v1/videos/generations", "prompt")]
    [InlineData("/v1/videos", "prompt")]
    [InlineData("/v1/webhooks", "url")]
    public async Task A_body_whose_string_is_not_utf8_is_refused_saying_so_not_blaming_a_surrogate(string path, string field)
    {
        // "café" in Latin-1, as a client that forgot to encode its body as UTF-8 sends it.
        byte[] latin1 = [.. "caf"u8, 0xE9];
        byte[] body = path == "/v1/webhooks"
            ? [.. "{\"url\":\"https://example.com/"u8, .. latin1, .. "\"}"u8]
            : [.. "{\"model\":\"kling-v3\",\"prompt\":\""u8, .. latin1, .. "\"}"u8];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await _server.Alice.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();

        ((int)response.StatusCode).Should().Be(400, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("param").GetString().Should().Be(field, text);
        error.GetProperty("message").GetString().Should().StartWith($"{field} must be valid Unicode text: its bytes are not UTF-8 (send the body as UTF-8)");
    }

    [Fact]
    public async Task Create_rejects_lone_surrogate_in_prompt()
    {
        var error = await _server.Alice.PostErrorAsync("""{"model":"kling-v3","prompt":"a\ud800b"}""", 400);

        error.GetProperty("type").GetString().Should().Be("invalid_request_error");
        error.GetProperty("param").GetString().Should().Be("prompt");
    }

    [Theory]
    [InlineData("""{"model":"kling-v3","prompt":"ok","\udd34x":16}""", "\\udd34x")]
    [InlineData("""{"model":"kling-v3","multi_shot":true,"shot_type":"customize","duration":5,"multi_prompt":[{"index":1,"prompt":"a","duration":5,"\ud800":1}]}""", "multi_prompt[0].\\ud800")]
    public async Task Create_rejects_lone_surrogate_in_a_property_name(string body, string param)
    {
        // Found by the property test: looking up any field of an object with such a name threw (a 500).
        var error = await _server.Alice.PostErrorAsync(body, 400);

        error.GetProperty("param").GetString().Should().Be(param);
    }

    [Fact]
    public async Task Create_accepts_a_properly_paired_surrogate()
    {
        await _server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"a dog \ud83d\udc36 on a beach"}""");
    }

    [Theory]
    [InlineData("url", """{"url":"https://example.com/\ud800"}""")]
    [InlineData("events[1]", """{"url":"https://example.com/hooks","events":["task.completed","\udc00"]}""")]
    public async Task Webhook_create_rejects_lone_surrogate_naming_the_field(string field, string body)
    {
        var (status, error) = await PostWebhookAsync(body);

        status.Should().Be(400);
        error.GetProperty("param").GetString().Should().Be(field);
        error.GetProperty("message").GetString().Should().Contain("unpaired UTF-16 surrogate");
    }

    [Theory]
    [InlineData("""{"url":5}""", "url", "url must be a JSON string, not a number")]
    [InlineData("""{"url":"https://example.com/h","events":"task.completed"}""", "events", "events must be a JSON array")]
    [InlineData("""{"url":"https://example.com/h","events":[7]}""", "events[0]", "events[0] must be a JSON string, not a number")]
    [InlineData("""{"url":"https://example.com/h","events":["task.nope"]}""", "events[0]", "task.nope")]
    [InlineData("""{"url":"https://example.com/h","events":[]}""", "events", "events must name at least one of task.completed")]
    public async Task Webhook_create_names_the_field_of_a_wrong_type(string body, string field, string message)
    {
        var (status, error) = await PostWebhookAsync(body);

        status.Should().Be(400);
        error.GetProperty("param").GetString().Should().Be(field);
        error.GetProperty("message").GetString().Should().Contain(message);
    }

    [Fact]
    public async Task Create_rejects_data_uri_holding_text()
    {
        var text = "data:image/png;base64," + Convert.ToBase64String(Encoding.UTF8.GetBytes("this is not an image, just words"));

        var error = await PostImageAsync(text);

        error.GetProperty("param").GetString().Should().Be("image_urls[0]");
        error.GetProperty("message").GetString().Should().Contain("not a JPEG, PNG, GIF or WebP image");
    }

    [Fact]
    public async Task Create_rejects_truncated_png_data_uri()
    {
        var png = TestImages.Solid(64, 48, SKColors.Teal);

        var error = await PostImageAsync(TestImages.DataUri(png[..(png.Length / 2)]));

        error.GetProperty("param").GetString().Should().Be("image_urls[0]");
        error.GetProperty("message").GetString().Should().Contain("truncated PNG");
    }

    [Fact]
    public async Task Create_rejects_png_declaring_100000_by_100000_pixels()
    {
        var error = await PostImageAsync(TestImages.DataUri(PngHeaderOnly(100_000, 100_000)));

        error.GetProperty("param").GetString().Should().Be("image_urls[0]");
        error.GetProperty("message").GetString().Should().Contain("100000×100000").And.Contain("pixels");
    }

    [Fact]
    public async Task Create_rejects_data_uri_over_the_byte_cap()
    {
        // A real PNG made heavy by an ancillary chunk: complete and small in pixels, but 100 KiB over a 64 KiB cap.
        var png = TestImages.Solid(64, 48, SKColors.Teal);
        var padded = png[..33].Concat(Chunk("tEXt", new byte[100 * 1024])).Concat(png[33..]).ToArray();

        var error = await PostImageAsync(TestImages.DataUri(padded));

        error.GetProperty("param").GetString().Should().Be("image_urls[0]");
        error.GetProperty("message").GetString().Should().Contain("over the 64 KiB Kinema accepts");
    }

    [Fact]
    public async Task Create_rejects_truncated_image_in_an_element()
    {
        var jpeg = TestImages.Solid(64, 48, SKColors.Teal, SKEncodedImageFormat.Jpeg);
        var body = $$"""
            {"model":"kling-v3","prompt":"@dog","elements":[{"name":"dog","description":"a dog",
             "element_input_urls":["https://example.com/a.jpg","{{TestImages.DataUri(jpeg[..^10], "image/jpeg")}}"]}]}
            """;

        var error = await _server.Alice.PostErrorAsync(body, 400);

        error.GetProperty("param").GetString().Should().Be("elements[0].element_input_urls[1]");
        error.GetProperty("message").GetString().Should().Contain("truncated JPEG");
    }

    [Fact]
    public async Task Create_accepts_small_png_and_jpeg_data_uris()
    {
        var jpeg = TestImages.DataUri(TestImages.Solid(80, 60, SKColors.Orange, SKEncodedImageFormat.Jpeg), "image/jpeg");

        await _server.Alice.CreateAsync($$"""{"model":"kling-v3","prompt":"first to last","image_urls":["{{SmallPng}}","{{jpeg}}"]}""");
    }

    private Task<JsonElement> PostImageAsync(string dataUri) =>
        _server.Alice.PostErrorAsync($$"""{"model":"kling-v3","prompt":"go","image_urls":["{{dataUri}}"]}""", 400);

    private async Task<(int Status, JsonElement Error)> PostWebhookAsync(string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _server.Alice.PostAsync("/v1/webhooks", content);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.GetProperty("error").Clone());
    }

    /// <summary>A structurally complete PNG (signature, IHDR, IEND) declaring any size: a decompression bomb's header.</summary>
    private static byte[] PngHeaderOnly(uint width, uint height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // truecolour
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", ihdr), .. Chunk("IEND", [])];
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        Encoding.ASCII.GetBytes(type).CopyTo(chunk, 4);
        data.CopyTo(chunk, 8);
        // The CRC is left zero: the submit-time check reads structure only, and these bytes never reach a decoder.
        return chunk;
    }
}
