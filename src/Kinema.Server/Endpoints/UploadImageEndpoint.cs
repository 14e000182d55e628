using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Core;
using Kinema.Core.Fetching;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Kinema.Server.Results;
using Kinema.Server.Uploads;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Endpoints;

/// <summary>
/// <c>POST /v1/uploads/images</c>: a multipart image (field <c>file</c>) stored in Kinema's own storage, answered with a
/// signed URL that a create of the same tenant accepts in <c>image_urls</c> and <c>element_input_urls</c>. The format is
/// judged by the bytes, never by the declared content type or file name; JPEG, PNG and WebP are kept as sent, a GIF as a
/// PNG of its first frame.
/// </summary>
internal static class UploadImageEndpoint
{
    public const string FieldName = "file";

    public static RouteHandlerBuilder MapUploadImage(this RouteGroupBuilder group) =>
        group.MapPost("/uploads/images", HandleAsync)
            .WithName("UploadImage")
            .WithSummary("Upload an image to use in a create")
            .WithDescription("multipart/form-data with the image (JPEG, PNG, WebP, or GIF kept as a PNG of its first frame) in the field 'file'. The url lasts 72 h "
                             + "and is accepted in image_urls and element_input_urls of creates made with a key of the same tenant.")
            .WithTags("Uploads")
            .DisableAntiforgery()
            .ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);

    internal static async Task<Results<Ok<UploadResponse>, JsonHttpResult<ErrorResponse>>> HandleAsync(
        HttpContext http,
        UploadUrls uploads,
        TaskStatusMapper mapper,
        KinemaPaths paths,
        TimeProvider time,
        IOptions<FetchOptions> fetchOptions,
        CancellationToken cancellationToken)
    {
        var tenant = TenantContext.Get(http);
        var options = fetchOptions.Value;
        if (!http.Request.HasFormContentType)
        {
            return ApiErrors.Create(StatusCodes.Status415UnsupportedMediaType,
                $"the upload must be multipart/form-data with the image in the field '{FieldName}'", FieldName);
        }

        IFormFile? file;
        try
        {
            file = (await http.Request.ReadFormAsync(cancellationToken)).Files.GetFile(FieldName);
        }
        catch (InvalidDataException exception) when (Kinema.Server.Limits.CompressedRequests.EncodingOf(http) is null)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, $"the multipart body could not be read: {exception.Message}", FieldName);
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(options.MaxImageBytes);
        }
        catch (IOException exception) when (exception is not BadHttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            return ApiErrors.MultipartEndedEarly(FieldName);
        }

        if (file is null || file.Length == 0)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, $"send the image as a non-empty multipart field named '{FieldName}'", FieldName);
        }

        if (file.Length > options.MaxImageBytes)
        {
            return TooLarge(options.MaxImageBytes);
        }

        var bytes = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
        {
            await stream.ReadExactlyAsync(bytes, cancellationToken);
        }

        // The header reader the create rules use on data URIs: format, completeness and size, without decoding.
        var header = ImageHeader.TryRead(bytes, out var problem);
        if (header is null)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, $"{FieldName} {problem}", FieldName);
        }

        if (header.Pixels > options.MaxImagePixels)
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"{FieldName} is {header.Width}×{header.Height} pixels, more than the {options.MaxImagePixels:N0} pixels Kinema accepts", FieldName);
        }

        if (header.MediaType == "image/gif")
        {
            // Engines and upstreams take JPEG, PNG or WebP: a GIF is kept as a PNG of its first frame, decoded only
            // after the header's size passed the pixel cap.
            if (FirstFrameAsPng(bytes) is not { } png)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, $"{FieldName} holds a GIF image that could not be decoded", FieldName);
            }

            bytes = png;
            header = header with { MediaType = "image/png" };
        }

        var stored = await uploads.SaveAsync(tenant.TenantId, bytes, header.MediaType, paths.RequestScratch, cancellationToken);
        var (url, expiresAt) = uploads.Link(stored, mapper.BaseUrl(http.Request));
        var filename = Path.GetFileName(file.FileName ?? "");
        return TypedResults.Ok(new UploadResponse(url, filename.Length is > 0 and <= 255 ? filename : stored.Name, header.MediaType,
            bytes.Length, time.GetUtcNow().ToUnixTimeSeconds(), stored.TaskId, expiresAt, header.Width, header.Height));
    }

    private static byte[]? FirstFrameAsPng(byte[] gif)
    {
        using var bitmap = SkiaSharp.SKBitmap.Decode(gif);
        if (bitmap is null)
        {
            return null;
        }

        using var image = SkiaSharp.SKImage.FromBitmap(bitmap);
        using var encoded = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return encoded?.ToArray();
    }

    private static JsonHttpResult<ErrorResponse> TooLarge(long maxBytes) =>
        ApiErrors.Create(StatusCodes.Status413PayloadTooLarge,
            $"{FieldName} is larger than the {maxBytes / (1024 * 1024)} MiB this server accepts", FieldName);
}
