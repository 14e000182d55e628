using Kinema.Contracts.Requests;
using Kinema.Contracts.Responses;
using Kinema.Contracts.Rules;
using Kinema.Core.Engines;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary>
/// <c>GET /v1/models</c> and <c>GET /v1/model-schema</c>: what the aggregator's client asks before it creates — the
/// models served (and, Kinema's addition, by which engines) and the JSON Schema of a create body, written from the same
/// rule set the server enforces (<see cref="GenerationRequestSchema"/>).
/// </summary>
internal static class ModelEndpoints
{
    /// <summary>Unix seconds of 2026-11-24, when Kinema first served kling-v3; a constant so the list never changes by itself.</summary>
    private const long KlingV3Added = 1795493513;

    private static readonly string[] Operations = [GenerationRequestSchema.Operation];

    public static RouteGroupBuilder MapModels(this RouteGroupBuilder group)
    {
        group.MapGet("/models", ListModels)
            .WithName("ListModels")
            .WithSummary("List the models this server accepts")
            .WithTags("Models");
        group.MapGet("/model-schema", GetSchema)
            .WithName("GetModelSchema")
            .WithSummary("The JSON Schema of a model operation's request body")
            .WithDescription("The schema is written from the rule set the server enforces: its limits are the server's limits.")
            .WithTags("Models")
            .ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        return group;
    }

    internal static Ok<ModelListResponse> ListModels(EngineRouter router) =>
        TypedResults.Ok(new ModelListResponse("list",
            [new ModelInfo(ModelNames.KlingV3, "model", "kling", KlingV3Added, Operations, router.EnginesFor(ModelNames.KlingV3))]));

    /// <param name="model">The model, e.g. <c>kling-v3</c>.</param>
    /// <param name="operation">The operation, e.g. <c>video_generation</c>.</param>
    internal static Results<Ok<ModelSchemaResponse>, JsonHttpResult<ErrorResponse>> GetSchema(string? model, string? operation)
    {
        if (string.IsNullOrEmpty(model))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest, "the query parameter model is required, e.g. model=kling-v3", "model");
        }

        if (string.IsNullOrEmpty(operation))
        {
            return ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"the query parameter operation is required, e.g. operation={GenerationRequestSchema.Operation}", "operation");
        }

        if (!GenerationRequestSchema.Model.Allows(model))
        {
            return ApiErrors.Create(StatusCodes.Status404NotFound,
                $"no model '{Truncate(model)}' on this server; GET /v1/models lists them", "model");
        }

        if (!Operations.Contains(operation, StringComparer.Ordinal))
        {
            return ApiErrors.Create(StatusCodes.Status404NotFound,
                $"model {model} has no operation '{Truncate(operation)}'; it has {string.Join(", ", Operations)}", "operation");
        }

        return TypedResults.Ok(new ModelSchemaResponse(model, operation, GenerationRequestSchema.ToJsonSchema()));
    }

    private static string Truncate(string value) => value.Length > 64 ? value[..64] + "…" : value;
}
