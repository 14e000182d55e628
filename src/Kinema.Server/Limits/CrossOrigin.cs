using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Limits;

/// <summary>
/// Which web pages on other origins may call the API from a browser (<c>Kinema:Cors</c>): the OpenAI SDK with
/// <c>dangerouslyAllowBrowser</c>, a front end fetching a result into a blob, a canvas drawing a poster. None by default,
/// so a browser refuses every cross-origin read, as it did before this setting existed.
/// </summary>
public sealed class CrossOriginOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Cors";

    /// <summary>Origins such as <c>https://app.example.com</c>, or <c>*</c> for any page.</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < AllowedOrigins.Count; i++)
        {
            var origin = AllowedOrigins[i];
            if (origin == "*")
            {
                continue;
            }

            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || uri.GetLeftPart(UriPartial.Authority) != origin.TrimEnd('/') || origin.EndsWith('/'))
            {
                yield return new ValidationResult(
                    $"Kinema:Cors:AllowedOrigins:{i} must be * or an origin such as https://app.example.com (scheme, host and port, no path or trailing slash), not '{origin}'.",
                    [nameof(AllowedOrigins)]);
            }
        }
    }
}

internal static class CrossOrigin
{
    /// <summary>Headers a page may read from an answer, beyond the ones every browser exposes.</summary>
    private static readonly string[] ExposedHeaders =
    [
        "X-Request-Id", "Idempotency-Replayed", "Idempotent-Replayed", "Retry-After", "Content-Range", "Accept-Ranges",
        "Content-Length", "ETag", "WWW-Authenticate",
    ];

    public static IServiceCollection AddCrossOrigin(this IServiceCollection services)
    {
        services.AddOptions<CrossOriginOptions>().BindConfiguration(CrossOriginOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>()
            .Configure<IOptions<CrossOriginOptions>>((cors, settings) => cors.AddDefaultPolicy(policy =>
            {
                var origins = settings.Value.AllowedOrigins;
                if (origins.Contains("*"))
                {
                    policy.AllowAnyOrigin();
                }
                else
                {
                    policy.WithOrigins([.. origins]);
                }

                // A bearer key, not cookies, authenticates a call, so credentials are never allowed: a page on an allowed
                // origin can only use a key it was given. The OpenAI SDK sends x-stainless-* headers of its own.
                policy.AllowAnyHeader().AllowAnyMethod().WithExposedHeaders(ExposedHeaders).SetPreflightMaxAge(TimeSpan.FromMinutes(10));
            }));
        return services;
    }

    /// <summary>
    /// Answers preflights before authentication and rate limits, and marks every answer (errors too) for allowed origins.
    /// A request without an <c>Origin</c> header passes straight through.
    /// </summary>
    public static IApplicationBuilder UseCrossOrigin(this IApplicationBuilder app) => app.UseCors();
}
