using System.Text.Json;
using Kinema.Core;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Kinema.EndToEnd;

/// <summary>Outbound HTTP does not flood the log by default, and the console can log JSON.</summary>
public sealed class LoggingDefaultsTests
{
    [Theory]
    [InlineData("System.Net.Http.HttpClient.kinema-fetch.LogicalHandler")]
    [InlineData("System.Net.Http.HttpClient.kinema-fetch.ClientHandler")]
    [InlineData("System.Net.Http.HttpClient.kinema-kling.LogicalHandler")]
    [InlineData("System.Net.Http.HttpClient.kinema-webhooks.ClientHandler")]
    public async Task HttpClient_categories_log_at_Warning_by_default(string category)
    {
        var directory = Path.Combine(Path.GetTempPath(), "kinema-logging", Guid.NewGuid().ToString("N"));
        await using var app = KinemaServer.Build(new KinemaPaths(directory), []);
        try
        {
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(category);

            logger.IsEnabled(LogLevel.Information).Should().BeFalse("every fetch, poll and webhook would log two lines");
            logger.IsEnabled(LogLevel.Warning).Should().BeTrue();
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Kinema.Core.Upstream.UpstreamPoller")
                .IsEnabled(LogLevel.Information).Should().BeTrue("Kinema's own one-line events stay visible");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task HttpClient_level_can_still_be_raised_by_configuration()
    {
        var directory = Path.Combine(Path.GetTempPath(), "kinema-logging", Guid.NewGuid().ToString("N"));
        await using var app = KinemaServer.Build(new KinemaPaths(directory), [], builder => builder.Configuration.AddInMemoryCollection(
            new Dictionary<string, string?> { ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Debug" }));
        try
        {
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("System.Net.Http.HttpClient.kinema-fetch.LogicalHandler")
                .IsEnabled(LogLevel.Debug).Should().BeTrue("the defaults sit beneath every configuration source");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Json_console_formatter_is_selected_by_configuration()
    {
        var directory = Path.Combine(Path.GetTempPath(), "kinema-logging", Guid.NewGuid().ToString("N"));
        await using var app = KinemaServer.Build(new KinemaPaths(directory), [], builder => builder.Configuration.AddInMemoryCollection(
            new Dictionary<string, string?> { ["Logging:Console:FormatterName"] = "json" }));
        try
        {
            app.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName.Should().Be("json");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Kinema_serve_logs_json_lines_when_the_environment_asks()
    {
        var directory = Path.Combine(Path.GetTempPath(), "kinema-logging", Guid.NewGuid().ToString("N"));
        try
        {
            await using (var server = await ServerProcess.StartAsync(directory, new Dictionary<string, string> { ["Logging__Console__FormatterName"] = "json" }))
            {
                var logLines = server.Output.Split('\n').Where(line => line.TrimStart().StartsWith('{')).ToList();

                logLines.Should().NotBeEmpty(server.Output);
                foreach (var line in logLines)
                {
                    using var entry = JsonDocument.Parse(line);
                    entry.RootElement.GetProperty("Category").GetString().Should().NotBeNullOrEmpty();
                    entry.RootElement.GetProperty("LogLevel").GetString().Should().NotBeNullOrEmpty();
                }

                logLines.Should().Contain(line => line.Contains("Microsoft.Hosting.Lifetime", StringComparison.Ordinal), server.Output);
            }
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
