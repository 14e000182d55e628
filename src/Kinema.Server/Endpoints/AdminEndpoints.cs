using Kinema.Contracts.Responses;
using Kinema.Core.Billing;
using Kinema.Core.Tenants;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary>
/// <c>/v1/admin</c>: tenants, keys, credits and usage of every tenant. Only keys made with <c>--admin</c> may call it;
/// any other key gets 403 (it is authenticated, just not allowed).
/// </summary>
internal static class AdminEndpoints
{
    public static RouteGroupBuilder MapAdmin(this RouteGroupBuilder v1)
    {
        var admin = v1.MapGroup("/admin").WithTags("Admin");
        admin.AddEndpointFilter(async (invocation, next) =>
            TenantContext.Get(invocation.HttpContext).Key.IsAdmin
                ? await next(invocation)
                : ApiErrors.Create(StatusCodes.Status403Forbidden, "this API key is not an admin key; /v1/admin needs one (kinema keys create --admin)"));

        admin.MapGet("/tenants", async (IBillingStore billing, CancellationToken ct) =>
                TypedResults.Ok(new TenantListResponse((await billing.ListTenantsAsync(ct)).Select(Describe).ToList())))
            .WithName("AdminListTenants");
        admin.MapPost("/tenants", CreateTenantAsync).WithName("AdminCreateTenant")
            .WithSummary("Make a tenant, or set an existing one's max_in_flight");
        admin.MapPost("/tenants/{tenant}/credits", AddCreditsAsync).WithName("AdminAddCredits")
            .WithSummary("Add credits (or take them away with a negative amount, never below zero)");
        admin.MapGet("/keys", async (IApiKeyStore keys, CancellationToken ct) =>
                TypedResults.Ok(new KeyListResponse((await keys.ListAsync(ct)).Select(k => Describe(k, null)).ToList())))
            .WithName("AdminListKeys");
        admin.MapPost("/keys", CreateKeyAsync).WithName("AdminCreateKey").WithSummary("Make a key; the key itself is in this answer only");
        admin.MapDelete("/keys/{id}", async Task<Results<NoContent, JsonHttpResult<ErrorResponse>>> (string id, IApiKeyStore keys, CancellationToken ct) =>
                await keys.RevokeAsync(id, ct)
                    ? TypedResults.NoContent()
                    : ApiErrors.Create(StatusCodes.Status404NotFound, $"no valid key with id or prefix '{id}'", "id"))
            .WithName("AdminRevokeKey");
        admin.MapGet("/usage", async (IBillingStore billing, CancellationToken ct) =>
                TypedResults.Ok(new AdminUsageResponse((await billing.UsageAsync(ct)).Select(u => new TenantUsageItem(
                    u.TenantId, u.Balance, u.MaxInFlight, u.Granted, u.Charged, u.Refunded, u.Tasks)).ToList())))
            .WithName("AdminUsage").WithSummary("Balance, credits granted, charged and refunded, per tenant");
        return admin;
    }

    private static async Task<Results<Ok<TenantItem>, JsonHttpResult<ErrorResponse>>> CreateTenantAsync(
        HttpContext http, IBillingStore billing, CancellationToken ct)
    {
        var (body, error) = await JsonBody.ReadAsync(http, ct);
        if (body is null)
        {
            return error!;
        }

        using (body)
        {
            if (!body.TryString("id", out var id, out error) || !body.TryInteger("max_in_flight", 1, AccountRules.MaxInFlight, out var cap, out error))
            {
                return error!;
            }

            if (InvalidTenantId(id) is { } invalid)
            {
                return invalid;
            }

            return TypedResults.Ok(Describe(await billing.UpsertTenantAsync(id!, (int?)cap, ct)));
        }
    }

    private static async Task<Results<Ok<BalanceResponse>, JsonHttpResult<ErrorResponse>>> AddCreditsAsync(
        string tenant, HttpContext http, IBillingStore billing, CancellationToken ct)
    {
        var (body, error) = await JsonBody.ReadAsync(http, ct);
        if (body is null)
        {
            return error!;
        }

        using (body)
        {
            if (!body.TryInteger("amount", -AccountRules.MaxCreditChange, AccountRules.MaxCreditChange, out var amount, out error)
                || !body.TryString("note", out var note, out error))
            {
                return error!;
            }

            if (AccountRules.NoteProblem(note) is { } badNote)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, $"note {badNote}", "note");
            }

            if (amount is null or 0)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, "amount is required: a whole number of credits, not 0", "amount");
            }

            // Routing leaves %2F encoded in a segment, so a tenant whose id has a '/' (a key's name becomes its tenant)
            // would be out of reach; the id is matched as the client spelled it, decoded once.
            tenant = Uri.UnescapeDataString(tenant);
            if (InvalidTenantId(tenant, "tenant") is { } invalid)
            {
                return invalid;
            }

            var outcome = await billing.AddCreditsAsync(tenant, amount.Value, TenantContext.Get(http).Key.Id, note, ct);
            return outcome.Kind switch
            {
                CreditOutcomeKind.Applied => TypedResults.Ok(new BalanceResponse(tenant, outcome.Tenant!.Balance)),
                CreditOutcomeKind.UnknownTenant => ApiErrors.Create(StatusCodes.Status404NotFound,
                    $"no tenant '{tenant}': make it first (POST /v1/admin/tenants or kinema tenants create)", "tenant"),
                _ => ApiErrors.Create(StatusCodes.Status409Conflict,
                    $"taking {-amount} credits would leave tenant '{tenant}' below zero (its balance is {outcome.Tenant!.Balance})", "amount"),
            };
        }
    }

    private static async Task<Results<Ok<KeyItem>, JsonHttpResult<ErrorResponse>>> CreateKeyAsync(
        HttpContext http, IApiKeyStore keys, CancellationToken ct)
    {
        var (body, error) = await JsonBody.ReadAsync(http, ct);
        if (body is null)
        {
            return error!;
        }

        using (body)
        {
            if (!body.TryString("name", out var name, out error) || !body.TryString("tenant", out var tenant, out error)
                || !body.TryBoolean("admin", out var isAdmin, out error) || !body.TryInteger("rpm", 1, AccountRules.MaxRequestsPerMinute, out var rpm, out error))
            {
                return error!;
            }

            if (AccountRules.NameProblem(name) is { } badName)
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest,
                    $"name {badName}: a key's name is 1 to {AccountRules.MaxNameLength} printable characters (without a tenant, it names the key's tenant too)",
                    "name");
            }

            if (tenant is not null && InvalidTenantId(tenant, "tenant") is { } invalid)
            {
                return invalid;
            }

            var created = await keys.CreateAsync(new NewApiKey(name!, tenant, isAdmin, (int?)rpm), ct);
            return TypedResults.Ok(Describe(created.Record, created.Key));
        }
    }

    private static JsonHttpResult<ErrorResponse>? InvalidTenantId(string? id, string param = "id") =>
        AccountRules.NameProblem(id) is { } problem
            ? ApiErrors.Create(StatusCodes.Status400BadRequest,
                $"{param} {problem}: a tenant id is 1 to {AccountRules.MaxNameLength} printable characters", param)
            : null;

    private static TenantItem Describe(TenantAccount account) =>
        new(account.Id, account.Balance, account.MaxInFlight, account.CreatedAt.ToUnixTimeSeconds());

    private static KeyItem Describe(ApiKeyRecord key, string? plaintext) => new(
        key.Id, key.TenantId, key.Name, key.Prefix, key.IsAdmin, key.RequestsPerMinute, key.CreatedAt.ToUnixTimeSeconds(),
        key.RevokedAt?.ToUnixTimeSeconds(), plaintext);
}

/// <summary>A tenant's account.</summary>
internal sealed record TenantItem(string TenantId, long Balance, int? MaxInFlight, long Created);

/// <summary>Every tenant.</summary>
internal sealed record TenantListResponse(IReadOnlyList<TenantItem> Data);

/// <summary>A key; <c>key</c> (the secret) only in the answer that made it.</summary>
internal sealed record KeyItem(string Id, string TenantId, string Name, string Prefix, bool Admin, int? Rpm, long Created, long? Revoked, string? Key);

/// <summary>Every key.</summary>
internal sealed record KeyListResponse(IReadOnlyList<KeyItem> Data);

/// <summary>One tenant's totals.</summary>
internal sealed record TenantUsageItem(string TenantId, long Balance, int? MaxInFlight, long Granted, long Charged, long Refunded, long Tasks);

/// <summary>Totals per tenant.</summary>
internal sealed record AdminUsageResponse(IReadOnlyList<TenantUsageItem> Data);
