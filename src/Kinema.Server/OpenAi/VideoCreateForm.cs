using System.Globalization;
using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.OpenAi;

/// <summary>
/// The fields of OpenAI's create (and remix) body as sent: the SDK always sends multipart/form-data, other clients may
/// send JSON. Nothing is judged here beyond reading; <see cref="ToRequest"/> maps and checks.
/// </summary>
internal sealed record VideoCreateForm
{
    public string? Prompt { get; init; }
    public string? Model { get; init; }
    public string? Seconds { get; init; }
    public string? Size { get; init; }
    /// <summary><c>input_reference</c> as an uploaded file.</summary>
    public IFormFile? ReferenceFile { get; init; }
    /// <summary><c>input_reference</c> as a URL or data URI (a plain string, or <c>{"image_url": …}</c>).</summary>
    public string? ReferenceUrl { get; init; }
    /// <summary><c>input_reference.file_id</c>, which Kinema does not take.</summary>
    public string? ReferenceFileId { get; init; }
    /// <summary>A field of the wrong JSON type, found while reading.</summary>
    public RuleViolation? ReadProblem { get; init; }

    // A data: URI in a form field can be as large as the request; the default 4 MiB value cap would cut it off.
    private static readonly FormOptions Limits = new() { ValueLengthLimit = 64 * 1024 * 1024 };

    /// <summary>Reads a multipart, url-encoded or JSON body; an error envelope when the body cannot be read at all.</summary>
    public static async Task<(VideoCreateForm? Form, JsonHttpResult<ErrorResponse>? Error)> ReadAsync(
        HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            if (request.HasFormContentType)
            {
                request.HttpContext.Features.Set<IFormFeature>(new FormFeature(request, Limits));
                var form = await request.ReadFormAsync(cancellationToken);
                return (FromForm(form), null);
            }

            if (request.ContentType is { Length: > 0 } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
            {
                return (null, ApiErrors.Create(StatusCodes.Status415UnsupportedMediaType,
                    $"the request body must be multipart/form-data or JSON, not '{contentType}'"));
            }

            using var document = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = Endpoints.JsonBody.MaxDepth }, cancellationToken);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, ApiErrors.Create(StatusCodes.Status400BadRequest, "the request body must be a JSON object"));
            }

            // A property name with a lone surrogate cannot be compared with the names read below: refuse it by name first.
            return JsonText.FindMalformedPropertyName(document.RootElement) is { } badName
                ? (null, ApiErrors.Create(StatusCodes.Status400BadRequest, JsonText.MalformedPropertyNameMessage(badName), badName))
                : (FromJson(document.RootElement), null);
        }
        catch (JsonException exception)
        {
            return (null, ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"the request body is not valid JSON: {exception.Message.Split(" Path:")[0]}"));
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, ApiErrors.Create(StatusCodes.Status413PayloadTooLarge,
                "the request body is larger than this server accepts; pass a large input_reference as an image_url"));
        }
        catch (InvalidDataException exception) when (Kinema.Server.Limits.CompressedRequests.EncodingOf(request.HttpContext) is null)
        {
            return (null, ApiErrors.Create(StatusCodes.Status400BadRequest, $"the multipart body could not be read: {exception.Message}"));
        }
        catch (IOException exception) when (exception is not BadHttpRequestException && request.HasFormContentType && !cancellationToken.IsCancellationRequested)
        {
            return (null, ApiErrors.MultipartEndedEarly());
        }
    }

    private static VideoCreateForm FromForm(IFormCollection form)
    {
        static string? Field(IFormCollection form, string name) => form.TryGetValue(name, out var value) ? value.ToString() : null;
        return new VideoCreateForm
        {
            Prompt = Field(form, "prompt"),
            Model = Field(form, "model"),
            Seconds = Field(form, "seconds"),
            Size = Field(form, "size"),
            ReferenceFile = form.Files.GetFile("input_reference"),
            // The SDK encodes an object field as bracketed keys: input_reference[image_url].
            ReferenceUrl = Field(form, "input_reference") ?? Field(form, "input_reference[image_url]") ?? Field(form, "image_url"),
            ReferenceFileId = Field(form, "input_reference[file_id]"),
        };
    }

    private static VideoCreateForm FromJson(JsonElement body)
    {
        RuleViolation? problem = null;
        string? Text(JsonElement parent, string name, string param)
        {
            if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            if (value.ValueKind == JsonValueKind.Number && name == "seconds")
            {
                return value.GetRawText();
            }

            if (!JsonText.TryGetString(value, out var text))
            {
                problem ??= new RuleViolation(param, JsonText.NotTextMessage(param, value));
                return null;
            }

            return text;
        }

        string? url = null, fileId = null;
        if (body.TryGetProperty("input_reference", out var reference))
        {
            if (reference.ValueKind == JsonValueKind.Object)
            {
                url = Text(reference, "image_url", "input_reference.image_url");
                fileId = Text(reference, "file_id", "input_reference.file_id");
            }
            else
            {
                url = Text(body, "input_reference", "input_reference");
            }
        }

        return new VideoCreateForm
        {
            Prompt = Text(body, "prompt", "prompt"),
            Model = Text(body, "model", "model"),
            Seconds = Text(body, "seconds", "seconds"),
            Size = Text(body, "size", "size"),
            ReferenceUrl = url ?? Text(body, "image_url", "image_url"),
            ReferenceFileId = fileId,
            ReadProblem = problem,
        };
    }

    /// <summary>
    /// The contract's request this create asks for, checked by the contract's own rule set, or every broken rule named
    /// by OpenAI's field (<c>seconds</c>, <c>size</c>, <c>input_reference</c>) rather than the contract's.
    /// </summary>
    public async Task<(GenerationRequest? Request, IReadOnlyList<RuleViolation> Violations)> ToRequestAsync(
        GenerationRuleOptions options, CancellationToken cancellationToken)
    {
        var violations = new List<RuleViolation>();
        if (ReadProblem is { } problem)
        {
            violations.Add(problem);
        }

        // A prompt sent as a number is already named by ReadProblem; "required" would say it twice.
        if (Prompt is null && ReadProblem?.Param != "prompt")
        {
            violations.Add(new RuleViolation("prompt", "prompt is required"));
        }

        var duration = GenerationRequestRules.DefaultDuration;
        if (Seconds is not null
            && (!int.TryParse(Seconds, NumberStyles.None, CultureInfo.InvariantCulture, out duration)
                || duration is < GenerationRequestRules.MinDuration or > GenerationRequestRules.MaxDuration))
        {
            violations.Add(new RuleViolation("seconds",
                $"seconds must be a whole number from {GenerationRequestRules.MinDuration} to {GenerationRequestRules.MaxDuration} for {ModelNames.KlingV3}, not '{Shorten(Seconds)}'"));
        }

        var size = Size ?? VideoSizes.Default;
        if (!VideoSizes.TryMap(size, out var mode, out var aspectRatio))
        {
            violations.Add(new RuleViolation("size",
                $"size must be one of {VideoSizes.Listed}; Kinema cannot make '{Shorten(size)}'"));
        }

        var images = new List<string>();
        if (ReferenceFileId is not null)
        {
            violations.Add(new RuleViolation("input_reference",
                "input_reference.file_id is not supported: upload the image as input_reference or pass input_reference.image_url"));
        }
        else if (ReferenceFile is { } file)
        {
            var (dataUri, fileProblem) = await ReadImageAsync(file, options, cancellationToken);
            if (fileProblem is not null)
            {
                violations.Add(fileProblem);
            }
            else
            {
                images.Add(dataUri!);
            }
        }
        else if (!string.IsNullOrEmpty(ReferenceUrl))
        {
            images.Add(ReferenceUrl);
        }

        if (violations.Count > 0)
        {
            return (null, violations);
        }

        var request = new GenerationRequest
        {
            Model = Model ?? ModelNames.KlingV3,
            Prompt = Prompt,
            Mode = mode,
            Duration = duration,
            AspectRatio = aspectRatio,
            ImageUrls = images,
            Facade = new FacadeOrigin(FacadeOrigin.OpenAiVideos),
        };
        var broken = GenerationRequestRules.Validate(request, options);
        return broken.Count == 0 ? (request, []) : (null, broken.Select(ToOpenAiField).ToList());
    }

    /// <summary>An uploaded image as a data URI, after the checks the contract applies to data URIs.</summary>
    private static async Task<(string? DataUri, RuleViolation? Problem)> ReadImageAsync(
        IFormFile file, GenerationRuleOptions options, CancellationToken cancellationToken)
    {
        const string param = "input_reference";
        if (file.Length > options.MaxImageBytes)
        {
            return (null, new RuleViolation(param,
                $"{param} is {file.Length:N0} bytes, over the {options.MaxImageBytes:N0} bytes Kinema accepts for an image"));
        }

        var bytes = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
        {
            await stream.ReadExactlyAsync(bytes, cancellationToken);
        }

        // The format is read from the bytes, not from the part's Content-Type, which clients often leave generic.
        if (ImageHeader.TryRead(bytes, out var problem) is not { } header)
        {
            return (null, new RuleViolation(param, $"{param} {problem}"));
        }

        var dataUri = $"data:{header.MediaType};base64,{Convert.ToBase64String(bytes)}";
        return DataUriImage.Check(param, dataUri, options.MaxImageBytes, options.MaxImagePixels) is { } violation
            ? (null, violation)
            : (dataUri, null);
    }

    /// <summary>A contract rule reported under the OpenAI field the caller actually sent.</summary>
    internal static RuleViolation ToOpenAiField(RuleViolation violation)
    {
        var field = violation.Param switch
        {
            "duration" => "seconds",
            "mode" or "aspect_ratio" => "size",
            "image_urls[0]" or "image_urls" => "input_reference",
            _ => violation.Param,
        };
        if (field == violation.Param)
        {
            return violation;
        }

        // seconds and input_reference are the same values renamed; size stands for mode and aspect ratio together, so a
        // message about either keeps its own words.
        var message = field != "size" && violation.Message.StartsWith(violation.Param, StringComparison.Ordinal)
            ? field + violation.Message[violation.Param.Length..]
            : violation.Message;
        return new RuleViolation(field, message);
    }

    private static string Shorten(string value) =>
        value.Length > 40 ? value[..(char.IsHighSurrogate(value[39]) ? 39 : 40)] + "…" : value;
}
