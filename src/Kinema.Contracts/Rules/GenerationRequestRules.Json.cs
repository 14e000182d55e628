using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Kinema.Contracts.Requests;

namespace Kinema.Contracts.Rules;

public static partial class GenerationRequestRules
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The request as the contract's JSON body: snake_case, integers as JSON numbers, absent fields left out.</summary>
    public static string ToJson(GenerationRequest request)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteTo(writer, request);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Writes the request as the contract's JSON body.</summary>
    public static void WriteTo(Utf8JsonWriter writer, GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(request);
        writer.WriteStartObject();
        writer.WriteString("model", request.Model);
        WriteIfSet(writer, "prompt", request.Prompt);
        writer.WriteString("mode", request.Mode);
        // Kling rejects duration as a string, so it stays an integer end to end.
        writer.WriteNumber("duration", request.Duration);
        writer.WriteString("aspect_ratio", request.AspectRatio);
        WriteIfSet(writer, "negative_prompt", request.NegativePrompt);
        if (request.ImageUrls.Count > 0)
        {
            writer.WriteStartArray("image_urls");
            foreach (var url in request.ImageUrls)
            {
                writer.WriteStringValue(url);
            }

            writer.WriteEndArray();
        }

        if (request.Watermark)
        {
            writer.WriteBoolean("watermark", true);
        }

        if (request.Audio)
        {
            writer.WriteBoolean("audio", true);
        }

        if (request.MultiShot)
        {
            writer.WriteBoolean("multi_shot", true);
            WriteIfSet(writer, "shot_type", request.ShotType);
            if (request.MultiPrompt.Count > 0)
            {
                writer.WriteStartArray("multi_prompt");
                foreach (var shot in request.MultiPrompt)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("index", shot.Index);
                    writer.WriteString("prompt", shot.Prompt);
                    writer.WriteNumber("duration", shot.Duration);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }
        }

        if (request.Elements.Count > 0)
        {
            writer.WriteStartArray("elements");
            foreach (var element in request.Elements)
            {
                writer.WriteStartObject();
                writer.WriteString("name", element.Name);
                writer.WriteString("description", element.Description);
                writer.WriteStartArray("element_input_urls");
                foreach (var url in element.ElementInputUrls)
                {
                    writer.WriteStringValue(url);
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        WriteIfSet(writer, "callback_url", request.CallbackUrl);
        writer.WriteEndObject();
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }
}
