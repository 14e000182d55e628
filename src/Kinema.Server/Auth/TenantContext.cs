using Kinema.Core.Tenants;
using Kinema.Server.Errors;

namespace Kinema.Server.Auth;

/// <summary>The authenticated caller of a <c>/v1</c> request.</summary>
internal sealed record TenantContext(string TenantId, ApiKeyRecord Key)
{
    private static readonly object ItemKey = new();

    public static TenantContext Get(HttpContext context) =>
        Find(context) ?? throw new InvalidOperationException("The route is missing RequireApiKey().");

    /// <summary>The caller when its key was recognised, else null.</summary>
    public static TenantContext? Find(HttpContext context) => context.Items[ItemKey] as TenantContext;

    /// <summary>
    /// Recognises the request's key, if any, ahead of the endpoint (the rate limiter, which runs before endpoint
    /// filters, partitions by it). Never answers: an unknown key is left to <see cref="RequireApiKey"/>'s 401.
    /// </summary>
    public static async Task IdentifyAsync(HttpContext http)
    {
        var authenticator = http.RequestServices.GetRequiredService<ApiKeyAuthenticator>();
        if (await authenticator.AuthenticateAsync(http.Request.Headers.Authorization, http.RequestAborted) is { } key)
        {
            http.Items[ItemKey] = new TenantContext(key.TenantId, key);
        }
    }

    /// <summary>Requires a valid bearer key on every endpoint of the group.</summary>
    public static RouteGroupBuilder RequireApiKey(RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (invocation, next) =>
        {
            var http = invocation.HttpContext;
            if (Find(http) is not null)
            {
                return await next(invocation);
            }

            var authenticator = http.RequestServices.GetRequiredService<ApiKeyAuthenticator>();
            var key = await authenticator.AuthenticateAsync(http.Request.Headers.Authorization, http.RequestAborted);
            if (key is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return ApiErrors.Create(
                    StatusCodes.Status401Unauthorized,
                    http.Request.Headers.Authorization.Count == 0
                        ? "missing API key: send 'Authorization: Bearer <key>'"
                        : "invalid or revoked API key");
            }

            http.Items[ItemKey] = new TenantContext(key.TenantId, key);
            return await next(invocation);
        });
        return group;
    }
}
