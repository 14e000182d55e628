using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Kinema.Contracts.Responses;

/// <summary>The answer to <c>GET /v1/models</c>: <c>{"object":"list","data":[…]}</c>.</summary>
/// <param name="Object">Always <c>list</c>.</param>
/// <param name="Data">The models this server accepts.</param>
public sealed record ModelListResponse(string Object, IReadOnlyList<ModelInfo> Data);

/// <summary>One model of <see cref="ModelListResponse"/>.</summary>
/// <param name="Id">The model name used in <c>model</c>, e.g. <c>kling-v3</c>.</param>
/// <param name="Object">Always <c>model</c>.</param>
/// <param name="OwnedBy">Who makes the model.</param>
/// <param name="Created">Unix seconds: when this server learnt the model.</param>
/// <param name="Operations">What can be asked of it, e.g. <c>video_generation</c> (the <c>operation</c> of <c>/v1/model-schema</c>).</param>
/// <param name="Engines">Kinema addition: the engines that serve it on this server, in the order they are tried.</param>
public sealed record ModelInfo(string Id, string Object, string OwnedBy, long Created, IReadOnlyList<string> Operations,
    IReadOnlyList<string> Engines);

/// <summary>The answer to <c>GET /v1/model-schema</c>.</summary>
/// <param name="Model">The model asked about.</param>
/// <param name="Operation">The operation asked about.</param>
/// <param name="InputSchema">The JSON Schema of the operation's request body.</param>
public sealed record ModelSchemaResponse(string Model, string Operation, JsonObject InputSchema);

/// <summary>The answer to <c>POST /v1/uploads/images</c>.</summary>
/// <param name="Url">A signed link to the stored image: usable in <c>image_urls</c> and <c>element_input_urls</c> by the same tenant.</param>
/// <param name="Filename">The file name the client sent.</param>
/// <param name="ContentType">The format found in the bytes (not the one declared): <c>image/jpeg</c>, <c>image/png</c> or <c>image/webp</c>.</param>
/// <param name="Bytes">The image's size.</param>
/// <param name="CreatedAt">Unix seconds.</param>
/// <param name="Id">Kinema addition: the upload's id.</param>
/// <param name="ExpiresAt">Kinema addition: unix seconds when <paramref name="Url"/> stops working.</param>
/// <param name="Width">Kinema addition: pixel width.</param>
/// <param name="Height">Kinema addition: pixel height.</param>
public sealed record UploadResponse(string Url, string Filename, string ContentType, long Bytes, long CreatedAt, string Id,
    long ExpiresAt, int Width, int Height);

/// <summary>The answer to <c>GET /v1/balance</c> (and to an admin's credit grant): a tenant's credits.</summary>
/// <param name="TenantId">The tenant the key belongs to.</param>
/// <param name="Balance">Credits left; never below zero.</param>
public sealed record BalanceResponse(string TenantId, long Balance);

/// <summary>One line of a tenant's ledger, as <c>GET /v1/usage</c> lists it.</summary>
/// <param name="Id">The entry's id (<c>led_…</c>), also the cursor for the next page.</param>
/// <param name="Kind"><c>grant</c>, <c>charge</c> or <c>refund</c>.</param>
/// <param name="Amount">Credits: positive for grants and refunds, negative for charges.</param>
/// <param name="BalanceAfter">The tenant's balance once this entry applied.</param>
/// <param name="TaskId">The task charged or refunded; null for grants.</param>
/// <param name="Created">Unix seconds.</param>
/// <param name="Note">Why, as the admin who granted the credits wrote it.</param>
public sealed record UsageEntry(
    string Id,
    string Kind,
    long Amount,
    long BalanceAfter,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? TaskId,
    long Created,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Note);

/// <summary>A page of <c>GET /v1/usage</c>, newest entry first.</summary>
/// <param name="Code">200.</param>
/// <param name="Data">The entries.</param>
/// <param name="HasMore">Whether older entries remain.</param>
/// <param name="NextCursor">Pass as <c>after</c> for the next page; null on the last.</param>
public sealed record UsageResponse(
    int Code,
    IReadOnlyList<UsageEntry> Data,
    bool HasMore,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? NextCursor);
