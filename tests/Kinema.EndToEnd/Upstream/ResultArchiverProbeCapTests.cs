using Kinema.Core;
using Kinema.Core.Engines;
using Kinema.Core.Fetching;
using Kinema.Core.Storage;
using Kinema.Core.Upstream;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Kinema.EndToEnd.Upstream;

/// <summary>
/// Many upstream results arriving at once are each downloaded at once, but checked with ffprobe no more than
/// <see cref="UpstreamOptions.MaxConcurrentProbes"/> at a time: real downloads over loopback, real ffprobe, real disk.
/// </summary>
public sealed class ResultArchiverProbeCapTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"kinema-probe-cap-{Guid.NewGuid():N}");
    private WebApplication _upstream = null!;
    private Uri _videoUrl = null!;
    private ServiceProvider _services = null!;

    public async ValueTask InitializeAsync()
    {
        var video = await TestVideo.GetAsync();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _upstream = builder.Build();
        _upstream.MapGet("/result/{n}.mp4", () => Results.Bytes(video, "video/mp4"));
        await _upstream.StartAsync();
        _videoUrl = new Uri(_upstream.Urls.First());
        _services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
    }

    public async ValueTask DisposeAsync()
    {
        await _upstream.DisposeAsync();
        await _services.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Twelve_results_at_once_are_checked_at_most_the_cap_at_a_time_and_all_archived(int cap)
    {
        using var archiver = Archiver(cap);

        var stored = await Task.WhenAll(Enumerable.Range(0, 12).Select(n => archiver.ArchiveAsync(
            $"task_cap{cap}_{n}", $"up_{n}",
            new UpstreamStatus { State = UpstreamState.Succeeded, VideoUrls = [new Uri(_videoUrl, $"/result/{n}.mp4")] },
            host: null, TestContext.Current.CancellationToken)));

        archiver.PeakConcurrentProbes.Should().BeInRange(1, cap);
        stored.Should().AllSatisfy(result =>
        {
            result.Width.Should().Be(640);
            result.Height.Should().Be(360);
            result.DurationSeconds.Should().BeApproximately(2, 0.1);
            result.HasAudio.Should().BeTrue();
        });
        Directory.EnumerateFiles(Path.Combine(_root, "results"), "video.mp4", SearchOption.AllDirectories).Should().HaveCount(12);
    }

    [Fact]
    public void The_cap_defaults_to_the_node_s_cores()
    {
        new UpstreamOptions().MaxConcurrentProbes.Should().Be(Environment.ProcessorCount);
    }

    private ResultArchiver Archiver(int cap) => new(
        _services.GetRequiredService<IHttpClientFactory>(),
        new DiskResultStorage(Path.Combine(_root, "results")),
        new KinemaPaths(Path.Combine(_root, "data")),
        Options.Create(new FetchOptions { AllowPrivateNetworks = true }),
        Options.Create(new UpstreamOptions { MaxConcurrentProbes = cap }));
}
