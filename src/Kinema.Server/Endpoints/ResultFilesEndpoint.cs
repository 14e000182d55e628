using Kinema.Core.Storage;
using Kinema.Server.Errors;
using Kinema.Server.Results;

namespace Kinema.Server.Endpoints;

/// <summary><c>GET /files/{task_id}/{name}</c>: a stored result behind a signed, expiring URL, with Range support.</summary>
internal static class ResultFilesEndpoint
{
    public static IEndpointConventionBuilder MapResultFiles(this IEndpointRouteBuilder app) =>
        app.MapMethods(ResultUrlSigner.Route + "/{task_id}/{name}", ["GET", "HEAD"], HandleAsync)
            .WithName("GetResultFile")
            .WithSummary("Download a result file through its signed URL")
            .ExcludeFromDescription();

    internal static async Task<IResult> HandleAsync(
        string task_id,
        string name,
        string? expires,
        string? signature,
        ResultUrlSigner signer,
        IResultStorage storage,
        CancellationToken cancellationToken)
    {
        switch (signer.Verify(task_id, name, expires, signature))
        {
            case SignatureCheck.Invalid:
                return ApiErrors.Create(StatusCodes.Status403Forbidden, "the link's signature is not valid for this file");
            case SignatureCheck.Expired:
                return ApiErrors.Create(StatusCodes.Status403Forbidden,
                    "the link has expired: query the task again for a fresh one");
        }

        var file = await storage.FindAsync(task_id, name, cancellationToken);
        if (file is null)
        {
            return ApiErrors.Create(StatusCodes.Status404NotFound, "the file no longer exists");
        }

        return new StoredFileResult(file, storage);
    }
}
