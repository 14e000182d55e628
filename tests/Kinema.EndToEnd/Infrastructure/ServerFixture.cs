namespace Kinema.EndToEnd.Infrastructure;

/// <summary>One Kinema server and one image server shared by a test class.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    internal KinemaTestServer Server { get; private set; } = null!;
    internal ImageServer Images { get; private set; } = null!;
    internal string Downloads { get; } = Path.Combine(Path.GetTempPath(), "kinema-e2e-downloads", Guid.NewGuid().ToString("N"));

    public async ValueTask InitializeAsync()
    {
        Images = await ImageServer.StartAsync();
        Server = await KinemaTestServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Images.DisposeAsync();
        if (Directory.Exists(Downloads))
        {
            Directory.Delete(Downloads, recursive: true);
        }
    }
}
