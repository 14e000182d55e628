using System.Text.Json;
using Kinema.Contracts.Json;
using Kinema.Core.Tasks;
using Kinema.Core.Webhooks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Kinema.Server.Results;

/// <summary>
/// A webhook's <c>data</c>: the task object exactly as <c>GET /v1/tasks/{id}</c> gives it, with result links under the
/// public base URL (or, without one, the address this server listens on).
/// </summary>
internal sealed class WebhookPayloadFactory(TaskStatusMapper mapper, IOptions<KinemaServerOptions> options, IServer server) : IWebhookPayloadFactory
{
    public string TaskJson(TaskRecord task) =>
        JsonSerializer.Serialize(mapper.Map(task, BaseUrl()), KinemaJsonContext.Wire.TaskStatusData);

    private string BaseUrl()
    {
        if (options.Value.PublicBaseUrl is { Length: > 0 } configured)
        {
            return configured.TrimEnd('/');
        }

        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://127.0.0.1:8080";
        return address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal).Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .TrimEnd('/');
    }
}
