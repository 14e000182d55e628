using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Kinema.Server.Playground;

/// <summary>
/// The web playground: <c>GET /</c> (the page) and <c>GET /playground/{file}</c> (its modules, styles and icon).
/// It is a client of the public API like any other: the page holds no secret, so it needs no key; the browser sends
/// the user's key to <c>/v1</c> itself.
/// </summary>
internal static class PlaygroundEndpoints
{
    private const string AssetRoute = "/playground";

    public static IEndpointRouteBuilder MapPlayground(this IEndpointRouteBuilder app)
    {
        var assets = PlaygroundAssets.Load(typeof(PlaygroundEndpoints).Assembly);
        var csp = ContentSecurityPolicy(app.ServiceProvider.GetRequiredService<IOptions<KinemaServerOptions>>().Value);
        app.MapMethods("/", ["GET", "HEAD"], (HttpContext http) => Serve(http, assets.Find("index.html"), csp))
            .ExcludeFromDescription();
        app.MapMethods(AssetRoute + "/{name}", ["GET", "HEAD"], (string name, HttpContext http) => Serve(http, assets.Find(name), csp))
            .ExcludeFromDescription();
        return app;
    }

    private static IResult Serve(HttpContext http, PlaygroundAsset? asset, string csp)
    {
        if (asset is null)
        {
            return TypedResults.StatusCode(StatusCodes.Status404NotFound);
        }

        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = csp;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ETag = asset.ETag;
        // Revalidate every time: the files change with the server binary, not on a schedule, and a 304 is cheap.
        headers.CacheControl = "no-cache";
        var ifNoneMatch = http.Request.Headers.IfNoneMatch;
        if (ifNoneMatch.Count > 0 && EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags)
            && tags.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Tag == asset.ETag))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        return TypedResults.Bytes(asset.Content, asset.ContentType);
    }

    /// <summary>
    /// Same origin only: scripts, styles and API calls. Images may be data:/blob: (previews of picked files); results are
    /// Kinema's own <c>/files/…</c> URLs, so same-origin too — unless <c>Kinema:PublicBaseUrl</c> names another origin.
    /// </summary>
    internal static string ContentSecurityPolicy(KinemaServerOptions options)
    {
        var results = "";
        if (options.PublicBaseUrl is { Length: > 0 } configured && Uri.TryCreate(configured, UriKind.Absolute, out var baseUrl))
        {
            results = " " + baseUrl.GetLeftPart(UriPartial.Authority);
        }

        return "default-src 'self'; script-src 'self'; style-src 'self'; "
               + $"img-src 'self' data: blob:{results}; media-src 'self' blob:{results}; connect-src 'self'{results}; "
               + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    }
}
