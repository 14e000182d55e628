using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Responses;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary>
/// A small JSON object body read by hand, so a wrong type answers with the contract's envelope naming the field
/// (model binding answers a bare 400 that names none).
/// </summary>
internal sealed class JsonBody : IDisposable
{
    private readonly JsonDocument _document;

    private JsonBody(JsonDocument document) => _document = document;

    private JsonElement Root => _document.RootElement;

    /// <summary>
    /// How deep a body may nest: far beyond any valid body, so a wrongly nested field reaches the field reader and is
    /// refused by name, while a body built to exhaust the parser is still cut off.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>The body as an object, or the error to answer with.</summary>
    public static async Task<(JsonBody? Body, JsonHttpResult<ErrorResponse>? Error)> ReadAsync(HttpContext http, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            document = http.Request.ContentLength == 0
                ? JsonDocument.Parse("{}")
                : await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = MaxDepth }, cancellationToken);
        }
        catch (JsonException exception)
        {
            return (null, ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"the request body is not valid JSON: {exception.Message.Split(" Path:")[0]}"));
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, ApiErrors.Create(StatusCodes.Status400BadRequest, "the request body must be a JSON object"));
        }

        if (JsonText.FindMalformedPropertyName(document.RootElement) is { } badName)
        {
            document.Dispose();
            return (null, ApiErrors.Create(StatusCodes.Status400BadRequest, JsonText.MalformedPropertyNameMessage(badName), badName));
        }

        return (new JsonBody(document), null);
    }

    public bool TryString(string name, out string? value, out JsonHttpResult<ErrorResponse>? error)
    {
        value = null;
        error = null;
        if (!Root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (!JsonText.TryGetString(element, out var text))
        {
            error = ApiErrors.Create(StatusCodes.Status400BadRequest, JsonText.NotTextMessage(name, element), name);
            return false;
        }

        // Each of these fields is stored in a column of its own, and PostgreSQL's text cannot hold U+0000.
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            error = ApiErrors.Create(StatusCodes.Status400BadRequest, $"{name} must not contain the NUL character (U+0000)", name);
            return false;
        }

        value = text;
        return true;
    }

    public bool TryInteger(string name, long min, long max, out long? value, out JsonHttpResult<ErrorResponse>? error)
    {
        value = null;
        error = null;
        if (!Root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var number) || number < min || number > max)
        {
            error = ApiErrors.Create(StatusCodes.Status400BadRequest, $"{name} must be a whole number from {min} to {max}", name);
            return false;
        }

        value = number;
        return true;
    }

    public bool TryBoolean(string name, out bool value, out JsonHttpResult<ErrorResponse>? error)
    {
        value = false;
        error = null;
        if (!Root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            error = ApiErrors.Create(StatusCodes.Status400BadRequest, $"{name} must be true or false", name);
            return false;
        }

        value = element.GetBoolean();
        return true;
    }

    public void Dispose() => _document.Dispose();
}
