using Kinema.Contracts.Json;
using Kinema.Core;
using Kinema.Core.Fetching;
using Kinema.Core.Storage;
using Kinema.Core.Tenants;
using Kinema.Engines.Animatic;
using Kinema.Server.Auth;
using Kinema.Server.Endpoints;
using Kinema.Server.Errors;
using Kinema.Server.OpenAi;
using Kinema.Server.OpenApi;
using Kinema.Server.Limits;
using Kinema.Server.Operations;
using Kinema.Server.Playground;
using Kinema.Server.Results;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

namespace Kinema.Server;

/// <summary>Builds and runs the Kinema HTTP host: the composition root of the server.</summary>
public static partial class KinemaServer
{
    /// <summary>
    /// Builds the host for a data directory; <paramref name="configure"/> lets tests and the CLI add settings.
    /// With <paramref name="createFirstKey"/>, a store without keys gets one at start, saved to <c>cli.key</c> before
    /// the server answers (<see cref="FirstApiKey"/>).
    /// </summary>
    public static WebApplication Build(KinemaPaths paths, string[] args, Action<WebApplicationBuilder>? configure = null, bool createFirstKey = false)
    {
        Directory.CreateDirectory(paths.DataDirectory);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            // Options are bound and validated once at start-up, so a changed appsettings.json is never read again anyway.
            // Watching for changes is not free: it is a recursive inotify watch on the content root, and when the data
            // directory lies under it (a published app run from its own folder) every SQLite write wakes the watcher.
            Args = [.. args, "--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        // Defaults below every other source, so appsettings.json, the environment and tests can still override them.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LoggingDefaults });
        builder.Configuration.AddJsonFile(Path.Combine(paths.DataDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables();
        configure?.Invoke(builder);

        var services = builder.Services;
        services.AddOptions<KinemaServerOptions>().BindConfiguration(KinemaServerOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddKinemaCore(builder.Configuration, paths);
        if (createFirstKey)
        {
            // After the store's own start (PostgreSQL migrates there), and before Kestrel's, which the host starts last.
            services.AddSingleton<FirstApiKey>();
            services.AddHostedService(provider => provider.GetRequiredService<FirstApiKey>());
        }

        services.AddKinemaResultStorage(builder.Configuration);
        services.AddSafeFetching();
        services.AddKinemaEngines(builder.Configuration);
        services.AddSingleton(provider => new ResultUrlSigner(
            provider.GetRequiredService<SigningKey>().Value, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<TaskStatusMapper>();
        services.AddSingleton<GenerationSubmitter>();
        services.AddSingleton<TaskCanceller>();
        services.AddSingleton<TaskDeleter>();
        services.AddSingleton<VideoImages>();
        services.AddSingleton<Uploads.UploadUrls>();
        services.AddOptions<Uploads.UploadOptions>().BindConfiguration(Uploads.UploadOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Uploads.UploadJanitor>();
        services.AddHostedService(provider => provider.GetRequiredService<Uploads.UploadJanitor>());
        services.AddSingleton<IOwnImageReader>(provider => provider.GetRequiredService<Uploads.UploadUrls>());
        services.AddSingleton<Core.Webhooks.IWebhookPayloadFactory, WebhookPayloadFactory>();
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddKeyRateLimiting();
        services.AddRequestHeadLimits();
        services.AddCompressedRequests();
        services.AddCrossOrigin();
        services.ConfigureHttpJsonOptions(json =>
        {
            // The contract is snake_case with absent fields left out; messages keep their quotes readable.
            json.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
            // The web defaults also read numbers from strings; the contract refuses "6" for 6, and the OpenAPI document
            // would otherwise describe every integer as "integer or string", which generated clients cannot type.
            json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            json.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, KinemaJsonContext.Wire);
        });
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(1, ServerJsonContext.Default));
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(2, OpenAiJsonContext.Default));
        services.AddOpenApi(KinemaOpenApi.Configure);
        services.AddProblemDetails();
        services.AddKinemaTelemetry(builder.Configuration);
        services.AddKinemaReadiness();
        // Readiness logs its changes itself (ReadinessLog); the health-check service would log every failing probe.
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.None);

        var maxBody = builder.Configuration.GetValue<long?>("Kinema:MaxRequestBodyBytes") ?? 32L * 1024 * 1024;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = maxBody);
        if (builder.Configuration["urls"] is null && builder.Configuration["ASPNETCORE_URLS"] is null)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:8080");
        }

        var app = builder.Build();
        app.Use((context, next) =>
        {
            // Every answer names its request, so a client can quote it (the SDK's exceptions carry it).
            context.Response.Headers["X-Request-Id"] = context.TraceIdentifier;
            return next(context);
        });
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = AnswerUnhandledErrorAsync,
            // The middleware logs every exception with its stack. A store outage is logged by the handler in one line; a
            // request the client broke (a body cut short, a client gone mid-upload) is answered 400 and is not the server's fault.
            SuppressDiagnosticsCallback = context => StoreFaults.IsUnreachable(context.Exception)
                                                     || ResultStorageUnavailableException.IsIn(context.Exception)
                                                     || context.Exception is BadHttpRequestException
                                                     || CompressedRequests.IsUndecodable(context.HttpContext, context.Exception),
        });
        app.UseStatusCodePages(context => WriteStatusCodeEnvelopeAsync(context.HttpContext));
        app.UseCrossOrigin();
        app.UseRequestHeadLimits();
        app.UseCompressedRequests();
        app.UseKeyRateLimiting();

        var v1 = app.MapGroup("/v1").WithTags("Tasks");
        TenantContext.RequireApiKey(v1);
        v1.ProducesErrors(StatusCodes.Status401Unauthorized, StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable);
        v1.MapCreateGeneration();
        v1.MapGetTask();
        v1.MapListTasks();
        v1.MapCancelTask();
        v1.MapDeleteTask();
        v1.MapTaskEvents();
        v1.MapWebhooks();
        v1.MapOpenAiVideos();
        v1.MapModels();
        v1.MapUploadImage();
        v1.MapBalance();
        v1.MapAdmin();
        app.MapResultFiles();
        app.MapUpstreamCallbacks();
        app.MapPlayground();
        app.MapGet("/healthz", () => TypedResults.Ok(new HealthResponse("ok"))).ExcludeFromDescription();
        app.MapReadiness();
        app.MapKinemaMetrics();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference("/docs");
        return app;
    }

    /// <summary>
    /// Logging defaults that hold without any appsettings.json (tests, <c>kinema serve</c> from another directory).
    /// HttpClient logs a start and an end line for every image fetch, poll and webhook, and a stack trace for every
    /// failure: at a thousand polls a second that drowns the log. Kinema logs its own one line per event instead
    /// (task, engine, reason). <c>Logging:Console:FormatterName</c> (<c>simple</c> or <c>json</c>) picks the console format.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string?> LoggingDefaults = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
        ["Logging:LogLevel:Polly"] = "Warning",
        ["Logging:LogLevel:Microsoft.Extensions.Http"] = "Warning",
    };

    /// <summary>
    /// The error envelope, unless the client has gone: a connection dropped mid-body fails the write of its answer, and
    /// the middleware would log that second exception with its stack as a failure of the handler itself.
    /// </summary>
    private static async Task AnswerUnhandledErrorAsync(HttpContext context)
    {
        try
        {
            await WriteUnhandledErrorAsync(context);
        }
        catch (Exception exception) when (context.RequestAborted.IsCancellationRequested
                                          && exception is OperationCanceledException or IOException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // Nobody is left to read the answer.
        }
    }

    private static Task WriteUnhandledErrorAsync(HttpContext context)
    {
        var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        if (exception is BadHttpRequestException badRequest)
        {
            return ApiErrors.WriteAsync(context, badRequest.StatusCode, badRequest.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "the request body is larger than this server accepts"
                : "the request could not be read: " + badRequest.Message);
        }

        if (CompressedRequests.IsUndecodable(context, exception))
        {
            return ApiErrors.WriteAsync(context, StatusCodes.Status400BadRequest,
                $"the request body is not valid {CompressedRequests.EncodingOf(context)} data, as its Content-Encoding says: {exception!.Message}",
                "Content-Encoding");
        }

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Kinema.Server");
        if (exception is not null && StoreFaults.IsUnreachable(exception))
        {
            // Not a bug but an outage (the database down or cut off, the file locked or full): the client retries, and an
            // accepted task is in the store already or was never accepted, so a retry loses and doubles nothing.
            LogStoreUnreachable(logger, context.TraceIdentifier, exception.GetType().Name, StoreFaults.Reason(exception));
            context.Response.Headers.RetryAfter = "2";
            return ApiErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable,
                "the task store cannot be reached right now; try again shortly (a create retried with the same Idempotency-Key is never made twice)");
        }

        if (exception is not null && ResultStorageUnavailableException.IsIn(exception))
        {
            // The bucket or the results disk, not the task store: the task is safe, only its files cannot be reached now.
            LogResultStorageUnavailable(logger, context.TraceIdentifier, StoreFaults.Reason(exception));
            context.Response.Headers.RetryAfter = "5";
            return ApiErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable,
                "the result storage cannot be reached right now; try again shortly");
        }

        LogUnhandled(logger, context.TraceIdentifier, exception);
        return ApiErrors.WriteAsync(context, StatusCodes.Status500InternalServerError,
            $"internal error; quote request id {context.TraceIdentifier} when reporting it");
    }

    private static Task WriteStatusCodeEnvelopeAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var message = status switch
        {
            StatusCodes.Status404NotFound => $"no route matches {context.Request.Method} {context.Request.Path}",
            StatusCodes.Status405MethodNotAllowed => $"{context.Request.Method} is not allowed on {context.Request.Path}",
            _ => $"the request failed with HTTP {status}",
        };
        return ApiErrors.WriteAsync(context, status, message);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId} answered 503: the task store is out of reach ({Kind}: {Reason})")]
    private static partial void LogStoreUnreachable(ILogger logger, string requestId, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId} answered 503: the result storage is out of reach ({Reason})")]
    private static partial void LogResultStorageUnavailable(ILogger logger, string requestId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error in request {RequestId}")]
    private static partial void LogUnhandled(ILogger logger, string requestId, Exception? exception);
}

/// <summary>The body of <c>GET /healthz</c>.</summary>
internal sealed record HealthResponse(string Status);
