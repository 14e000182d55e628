using Kinema.Core.Engines;
using Kinema.Core.Scheduling;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Postgres;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tasks;
using Kinema.Core.Tenants;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kinema.Core;

/// <summary>Composes the task core: store, keys, result storage, scheduler and routing.</summary>
public static class CoreServiceCollectionExtensions
{
    /// <summary>Adds the core services for a node whose files live under <paramref name="paths"/>.</summary>
    public static IServiceCollection AddKinemaCore(this IServiceCollection services, IConfiguration configuration, KinemaPaths paths)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(paths);
        services.AddMetrics();
        services.AddSingleton<Diagnostics.KinemaMetrics>();
        services.AddOptions<TaskStoreOptions>().BindConfiguration(TaskStoreOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<TaskStoreOptions>>(new TaskStoreOptionsValidator(configuration));
        services.AddOptions<SchedulerOptions>().BindConfiguration(SchedulerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<TaskChangeFeed>();
        services.AddOptions<Billing.BillingOptions>().BindConfiguration(Billing.BillingOptions.Section).ValidateOnStart();
        // Read now, not on first use: a price that is not a whole number stops start-up with a message naming its key.
        services.AddSingleton(Billing.PriceList.FromConfiguration(configuration));
        if (StoreProviders.IsPostgres(configuration))
        {
            AddPostgresStores(services, configuration);
        }
        else
        {
            AddSqliteStores(services, paths);
        }

        services.AddOptions<ResultStorageOptions>().BindConfiguration(ResultStorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        // The default; an object store's registration (Kinema:Storage:Provider) replaces it.
        // Kinema:Storage:Disk:Path puts results on a directory several nodes share (an NFS mount), else under the data directory.
        services.AddSingleton<IResultStorage>(_ => new DiskResultStorage(
            configuration["Kinema:Storage:Disk:Path"] is { Length: > 0 } shared ? Path.GetFullPath(shared) : paths.Results));
        services.AddSingleton<TaskQueueSignal>();
        services.AddSingleton<RunningTasks>();
        services.AddSingleton<EngineRegistry>();
        services.AddSingleton(_ => ReadRouting(configuration));
        services.AddSingleton<EngineRouter>();
        services.AddOptions<Upstream.UpstreamOptions>().BindConfiguration(Upstream.UpstreamOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Upstream.CallbackUrls>();
        services.AddSingleton<Upstream.UpstreamPollerSignal>();
        services.AddSingleton<Upstream.ResultArchiver>();
        services.AddSingleton<Upstream.UpstreamSubmitter>();
        // First, so a killed process's scratch is gone before this one's scheduler claims anything.
        services.AddHostedService<DeadScratchCleanup>();
        services.AddHostedService<Scheduling.TaskScheduler>();
        services.AddHostedService<Upstream.UpstreamPoller>();
        services.AddOptions<Webhooks.WebhookOptions>().BindConfiguration(Webhooks.WebhookOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddHttpClient(Webhooks.WebhookDispatcher.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(provider =>
                Fetching.GuardedHttpHandler.Create(provider.GetRequiredService<IOptions<Fetching.FetchOptions>>().Value));
        services.AddHostedService<Webhooks.WebhookDispatcher>();
        services.AddHostedService<Diagnostics.QueueGauges>();
        services.AddSingleton<OrphanedResultsJanitor>();
        services.AddHostedService(provider => provider.GetRequiredService<OrphanedResultsJanitor>());
        return services;
    }

    private static void AddSqliteStores(IServiceCollection services, KinemaPaths paths)
    {
        services.AddSingleton(provider => new SqliteDatabase(
            paths.Database,
            provider.GetRequiredService<IOptions<TaskStoreOptions>>().Value.FullSync,
            provider.GetRequiredService<ILoggerFactory>().CreateLogger<SqliteDatabase>(),
            provider.GetRequiredService<Diagnostics.KinemaMetrics>()));
        services.AddSingleton<ITaskStore>(provider => new NotifyingTaskStore(
            new SqliteTaskStore(
                provider.GetRequiredService<SqliteDatabase>(),
                provider.GetRequiredService<TimeProvider>(),
                provider.GetRequiredService<IOptions<TaskStoreOptions>>().Value),
            provider.GetRequiredService<TaskChangeFeed>(),
            provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IApiKeyStore>(provider => new SqliteApiKeyStore(
            provider.GetRequiredService<SqliteDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IUpstreamTaskStore>(provider => new SqliteUpstreamTaskStore(
            provider.GetRequiredService<SqliteDatabase>(), provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<TaskChangeFeed>()));
        services.AddSingleton<Webhooks.IWebhookStore>(provider => new SqliteWebhookStore(
            provider.GetRequiredService<SqliteDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Billing.IBillingStore>(provider => new SqliteBillingStore(
            provider.GetRequiredService<SqliteDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RateLimits.IRateLimitStore>(provider => new RateLimits.InMemoryRateLimitStore(provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton(SigningKey.FromFile(paths));
    }

    private static void AddPostgresStores(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(_ => new PostgresDatabase(StoreProviders.ConnectionString(configuration) ?? ""));
        services.AddSingleton(provider => new PostgresTaskStore(
            provider.GetRequiredService<PostgresDatabase>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<IOptions<TaskStoreOptions>>().Value,
            provider.GetRequiredService<ILoggerFactory>().CreateLogger<PostgresTaskStore>(),
            provider.GetRequiredService<Diagnostics.KinemaMetrics>()));
        services.AddSingleton<ITaskStore>(provider => new NotifyingTaskStore(
            provider.GetRequiredService<PostgresTaskStore>(),
            provider.GetRequiredService<TaskChangeFeed>(),
            provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IApiKeyStore>(provider => new PostgresApiKeyStore(
            provider.GetRequiredService<PostgresDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IUpstreamTaskStore>(provider => new PostgresUpstreamTaskStore(
            provider.GetRequiredService<PostgresDatabase>(), provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<TaskChangeFeed>()));
        services.AddSingleton<Webhooks.IWebhookStore>(provider => new PostgresWebhookStore(
            provider.GetRequiredService<PostgresDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Billing.IBillingStore>(provider => new PostgresBillingStore(
            provider.GetRequiredService<PostgresDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RateLimits.IRateLimitStore>(provider => new PostgresRateLimitStore(
            provider.GetRequiredService<PostgresDatabase>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton(provider => PostgresSigningKey.Create(provider.GetRequiredService<PostgresDatabase>()));
        // Migrate before anything else runs, and hear other nodes' changes.
        services.AddHostedService<PostgresStartup>();
        services.AddHostedService<PostgresChangeListener>();
    }

    private static ModelRoutingOptions ReadRouting(IConfiguration configuration)
    {
        var routing = new ModelRoutingOptions();
        foreach (var model in configuration.GetSection(ModelRoutingOptions.Section).GetChildren())
        {
            var route = new ModelRoute();
            route.Engines.AddRange(model.GetSection("Engines").GetChildren()
                .Select(engine => engine.Value)
                .OfType<string>()
                .Where(name => name.Length > 0));
            routing.Models[model.Key] = route;
        }

        return routing;
    }
}
