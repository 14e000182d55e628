using System.Globalization;
using Kinema.Contracts.Responses;
using Kinema.Core.Billing;
using Kinema.Server.Auth;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary><c>GET /v1/balance</c> and <c>GET /v1/usage</c>: any key sees its own tenant's credits and ledger, and no other's.</summary>
internal static class BalanceEndpoints
{
    /// <summary>Ledger ids are numbers; on the wire they carry a prefix so they read as ids, not amounts.</summary>
    private const string EntryPrefix = "led_";

    public static RouteGroupBuilder MapBalance(this RouteGroupBuilder v1)
    {
        v1.MapGet("/balance", async (HttpContext http, IBillingStore billing, CancellationToken ct) =>
            {
                var tenant = TenantContext.Get(http).TenantId;
                var account = await billing.GetTenantAsync(tenant, ct);
                return TypedResults.Ok(new BalanceResponse(tenant, account?.Balance ?? 0));
            })
            .WithTags("Credits").WithName("GetBalance").WithSummary("The credits left to this key's tenant");
        v1.MapGet("/usage", ListUsageAsync)
            .WithTags("Credits").WithName("ListUsage").WithSummary("This tenant's ledger (grants, charges, refunds), newest first");
        return v1;
    }

    private static async Task<Results<Ok<UsageResponse>, JsonHttpResult<ErrorResponse>>> ListUsageAsync(
        HttpContext http, IBillingStore billing, CancellationToken ct)
    {
        var query = http.Request.Query;
        if (PageLimit.TryRead(query["limit"], out var limit) is { } badLimit)
        {
            return badLimit;
        }

        long? after = null;
        if (query["after"].ToString() is { Length: > 0 } cursor)
        {
            if (!cursor.StartsWith(EntryPrefix, StringComparison.Ordinal)
                || !long.TryParse(cursor.AsSpan(EntryPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return ApiErrors.Create(StatusCodes.Status400BadRequest, "after must be a next_cursor from an earlier page", "after");
            }

            after = parsed;
        }

        var page = await billing.ListLedgerAsync(TenantContext.Get(http).TenantId, limit, after, ct);
        return TypedResults.Ok(new UsageResponse(
            200,
            page.Entries.Select(Describe).ToList(),
            page.HasMore,
            page.NextCursor is { } next ? EntryId(next) : null));
    }

    internal static UsageEntry Describe(LedgerEntry entry) => new(
        EntryId(entry.Id), entry.Kind, entry.Amount, entry.BalanceAfter, entry.TaskId, entry.CreatedAt.ToUnixTimeSeconds(), entry.Note);

    private static string EntryId(long id) => EntryPrefix + id.ToString(CultureInfo.InvariantCulture);
}
