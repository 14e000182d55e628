using System.Text.Json;
using Kinema.EndToEnd.Infrastructure;
using Kinema.Testing;
using SkiaSharp;

namespace Kinema.EndToEnd.Cli;

/// <summary>The built CLI run as a process against a real server.</summary>
public sealed class CliTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private KinemaTestServer Server => fixture.Server;

    private string[] Connection(string? key = null) => ["--server", Server.BaseAddress.ToString(), "--key", key ?? Server.AliceKey];

    private string Output(string name)
    {
        Directory.CreateDirectory(fixture.Downloads);
        return Path.Combine(fixture.Downloads, name);
    }

    [Fact]
    public async Task Generate_submits_waits_and_saves_a_real_video()
    {
        var output = Output("cli.mp4");
        var picture = Output("first.png");
        await File.WriteAllBytesAsync(picture, TestImages.Solid(400, 300, SKColors.Teal));

        var result = await CliRunner.RunAsync(["generate", "a golden retriever running on the beach", "--duration", "3", "--aspect", "9:16",
            "--audio", "--negative", "blurry", "--first", picture, "--last", fixture.Images.Url("last.png"), "-o", output, .. Connection()]);

        result.ExitCode.Should().Be(0, result.Stderr);
        result.Stdout.Should().Contain("Saved").And.Contain(output);
        result.Stdout.Should().NotContain("━", "no progress bar when the output is not a terminal");
        var report = await Ffprobe.ProbeAsync(output);
        (report.Width, report.Height).Should().Be((720, 1280));
        report.HasAudio.Should().BeTrue();
        report.Duration.Should().BeApproximately(3, 0.06);
    }

    [Fact]
    public async Task Generate_with_shots_and_elements_makes_a_storyboard()
    {
        var output = Output("board.mp4");
        var front = Output("front.png");
        await File.WriteAllBytesAsync(front, TestImages.Solid(300, 300, SKColors.Gold));

        var result = await CliRunner.RunAsync(["generate", "--shot", "2:wide shot of the beach with @dog", "--shot", "1:close-up",
            "--element", $"dog={front},{fixture.Images.Url("dog.png")}", "-o", output, "--json", .. Connection()]);

        result.ExitCode.Should().Be(0, result.Stderr);
        using var task = JsonDocument.Parse(result.Stdout);
        task.RootElement.GetProperty("status").GetString().Should().Be("completed");
        (await Ffprobe.ProbeAsync(output)).FrameCount.Should().Be(72);
    }

    [Fact]
    public async Task Json_output_of_status_and_tasks_parses()
    {
        // "tasks --limit 2" must find two tasks whichever test of this class runs first on the shared server.
        await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"json, the earlier one","duration":3}""");
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"json","duration":3}""");

        var status = await CliRunner.RunAsync(["status", id, "--json", .. Connection()]);
        var waited = await CliRunner.RunAsync(["wait", id, "--json", .. Connection()]);
        var download = await CliRunner.RunAsync(["download", id, "-o", Output("dl.mp4"), "--json", .. Connection()]);
        var list = await CliRunner.RunAsync(["tasks", "--limit", "2", "--json", .. Connection()]);

        status.ExitCode.Should().Be(0);
        JsonDocument.Parse(status.Stdout).RootElement.GetProperty("id").GetString().Should().Be(id);
        JsonDocument.Parse(waited.Stdout).RootElement.GetProperty("status").GetString().Should().Be("completed");
        JsonDocument.Parse(download.Stdout).RootElement.GetProperty("path").GetString().Should().EndWith("dl.mp4");
        list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(2)
            .And.AllSatisfy(line => JsonDocument.Parse(line).RootElement.GetProperty("id").GetString().Should().StartWith("task_"));
    }

    [Fact]
    public async Task Upload_prints_a_link_that_generate_accepts_and_balance_and_models_answer()
    {
        var picture = Output("cli-upload.png");
        await File.WriteAllBytesAsync(picture, TestImages.Solid(320, 240, SKColors.Teal));

        var upload = await CliRunner.RunAsync(["upload", picture, .. Connection()]);
        var url = upload.Stdout.Trim();
        var generate = await CliRunner.RunAsync(["generate", "the teal wall", "--duration", "3", "--first", url, "-o", Output("from-upload.mp4"), .. Connection()]);
        var balance = await CliRunner.RunAsync(["balance", "--json", .. Connection()]);
        var models = await CliRunner.RunAsync(["models", .. Connection()]);
        var missing = await CliRunner.RunAsync(["upload", Output("no-such.png"), .. Connection()]);

        upload.ExitCode.Should().Be(0, upload.Stderr);
        url.Should().StartWith(Server.BaseAddress.ToString().TrimEnd('/') + "/files/upl_");
        generate.ExitCode.Should().Be(0, generate.Stderr);
        (await Ffprobe.ProbeAsync(Output("from-upload.mp4"))).Width.Should().Be(1280);
        JsonDocument.Parse(balance.Stdout).RootElement.GetProperty("tenant_id").GetString().Should().Be("alice");
        balance.ExitCode.Should().Be(0);
        models.Stdout.Should().Contain("kling-v3").And.Contain("animatic");
        missing.ExitCode.Should().Be(2);
        missing.Stderr.Should().Contain("no such file");
    }

    [Theory]
    [InlineData("--duration", "20", "duration")]
    [InlineData("--mode", "8k", "mode")]
    [InlineData("--last", "last.png", "--last needs --first")]
    [InlineData("--first", "/no/such/file.png", "not found")]
    [InlineData("--shot", "five:wide", "seconds:prompt")]
    [InlineData("--duration", "ten", "ten")]
    public async Task Bad_flags_are_usage_errors_caught_before_any_request(string flag, string value, string fragment)
    {
        // The server address is a closed port: reaching it would be exit 3, not 2.
        var result = await CliRunner.RunAsync(["generate", "a prompt", flag, value, "--server", "http://127.0.0.1:9", "--key", "kin_x"]);

        result.ExitCode.Should().Be(2, result.Stderr);
        result.Stderr.Should().Contain(fragment);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    public async Task Tasks_with_a_limit_below_one_is_a_usage_error_not_an_empty_list(string limit)
    {
        var result = await CliRunner.RunAsync(["tasks", "--limit", limit, "--server", "http://127.0.0.1:9", "--key", "kin_x"]);

        result.ExitCode.Should().Be(2, result.Stderr);
        result.Stderr.Should().Contain($"--limit must be at least 1, not {limit}");
    }

    [Fact]
    public async Task An_unreachable_server_or_refused_key_exits_3()
    {
        var unreachable = await CliRunner.RunAsync(["status", "task_01K8SGYNNNVBQTXNR4MM964S7K", "--server", "http://127.0.0.1:9", "--key", "kin_x"]);
        var refused = await CliRunner.RunAsync(["status", "task_01K8SGYNNNVBQTXNR4MM964S7K", .. Connection("kin_wrong")]);

        unreachable.ExitCode.Should().Be(3, unreachable.Stderr);
        unreachable.Stderr.Should().Contain("cannot reach");
        refused.ExitCode.Should().Be(3, refused.Stderr);
        refused.Stderr.Should().Contain("API key");
    }

    [Fact]
    public async Task A_failed_task_exits_1_with_its_reason()
    {
        var result = await CliRunner.RunAsync(["generate", "x", "--duration", "3", "--first", fixture.Images.Url("missing.png"), "-o", Output("never.mp4"), .. Connection()]);

        result.ExitCode.Should().Be(1, result.Stderr);
        result.Stderr.Should().Contain("image_urls[0]");
        File.Exists(Output("never.mp4")).Should().BeFalse();
    }

    [Fact]
    public async Task Without_a_key_flag_the_cli_uses_the_key_serve_saved()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-key", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "cli.key"), Server.AliceKey + "\n");

        var result = await CliRunner.RunAsync(["tasks", "--limit", "1", "--server", Server.BaseAddress.ToString()], new Dictionary<string, string> { ["KINEMA_DATA"] = data });
        var fromEnvironment = await CliRunner.RunAsync(["tasks", "--limit", "1"], new Dictionary<string, string>
        {
            ["KINEMA_URL"] = Server.BaseAddress.ToString(),
            ["KINEMA_API_KEY"] = Server.BobKey,
        });

        result.ExitCode.Should().Be(0, result.Stderr);
        fromEnvironment.ExitCode.Should().Be(0, fromEnvironment.Stderr);
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task Under_a_terminal_generate_shows_a_live_progress_bar()
    {
        var result = await CliRunner.RunInTerminalAsync(["generate", "a progress bar", "--mode", "pro", "--duration", "5", "-o", Output("tty.mp4"), .. Connection()]);

        result.ExitCode.Should().Be(0, result.Stdout + result.Stderr);
        result.Stdout.Should().Contain("━").And.Contain("%").And.Contain("completed");
        result.Stdout.Should().Contain("\u001b[", "the bar is redrawn in place with terminal escapes");
    }

    [Fact]
    public async Task Delete_removes_a_task_and_a_second_delete_is_a_usage_error()
    {
        var id = await Server.Alice.CreateAsync("""{"model":"kling-v3","prompt":"cli delete","duration":3}""");
        await Server.Alice.WaitForTerminalAsync(id);

        var deleted = await CliRunner.RunAsync(["delete", id, .. Connection()]);
        var again = await CliRunner.RunAsync(["delete", id, "--json", .. Connection()]);
        var status = await CliRunner.RunAsync(["status", id, .. Connection()]);

        deleted.ExitCode.Should().Be(0, deleted.Stderr);
        deleted.Stdout.Trim().Should().Be($"Deleted {id}.");
        again.ExitCode.Should().Be(2);
        again.Stderr.Should().Contain("HTTP 404").And.Contain(id);
        status.ExitCode.Should().Be(2, "the task no longer exists");
    }

    [Fact]
    public async Task Tenants_create_and_credits_add_keep_a_balance_that_usage_shows()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-tenants", Guid.NewGuid().ToString("N"));

        var tenant = await CliRunner.RunAsync(["tenants", "create", "studio-7", "--max-in-flight", "3", "--data", data]);
        var granted = await CliRunner.RunAsync(["credits", "add", "--tenant", "studio-7", "250", "--note", "first month\tprepaid", "--data", data]);
        var taken = await CliRunner.RunAsync(["credits", "add", "--tenant", "studio-7", "--data", data, "--", "-50"]);
        var overdraw = await CliRunner.RunAsync(["credits", "add", "--tenant", "studio-7", "--data", data, "--", "-201"]);
        var list = await CliRunner.RunAsync(["tenants", "list", "--data", data]);

        tenant.ExitCode.Should().Be(0, tenant.Stderr);
        tenant.Stdout.Should().Contain("Tenant 'studio-7': balance 0, max in flight 3.");
        granted.ExitCode.Should().Be(0, granted.Stderr);
        granted.Stdout.Should().Contain("Tenant 'studio-7' now has 250 credits.");
        taken.ExitCode.Should().Be(0, taken.Stderr);
        taken.Stdout.Should().Contain("now has 200 credits");
        overdraw.ExitCode.Should().NotBe(0);
        overdraw.Stderr.Should().Contain("has only 200 credits");
        list.Stdout.Should().MatchRegex(@"studio-7\s+200\s+3");
        Directory.Delete(data, recursive: true);
    }

    public static TheoryData<string[], string> AccountArgumentsOutOfBounds => new()
    {
        { ["keys", "create", "--name", new string('n', 101)], "--name must be at most 100 characters, not 101" },
        { ["keys", "create", "--name", "ok", "--tenant", new string('t', 5000)], "--tenant must be at most 100 characters, not 5000" },
        { ["keys", "create", "--name", "ok", "--tenant", "x\u0001y"], "--tenant must hold printable characters only" },
        { ["keys", "create", "--name", "ok", "--rpm", "2000000"], "--rpm must be from 1 to 1000000" },
        { ["tenants", "create", "a\u0007b"], "the id must hold printable characters only" },
        { ["tenants", "create", "ok", "--max-in-flight", "0"], "--max-in-flight must be from 1 to 1000000" },
        { ["credits", "add", "--tenant", "ok", "10000000000000"], "from -1000000000000 to 1000000000000" },
        { ["credits", "add", "--tenant", "ok", "5", "--note", new string('x', 501)], "--note must be at most 500 characters, not 501" },
    };

    [Theory]
    [MemberData(nameof(AccountArgumentsOutOfBounds))]
    public async Task Account_commands_follow_the_admin_apis_rules_and_write_nothing_when_refused(string[] arguments, string message)
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-rules", Guid.NewGuid().ToString("N"));

        var result = await CliRunner.RunAsync([.. arguments, "--data", data]);

        result.ExitCode.Should().Be(2, result.Stderr);
        result.Stderr.Should().Contain(message);
        File.Exists(Path.Combine(data, "kinema.db")).Should().BeFalse("a refused command never opens the store");
    }

    public static TheoryData<string[], string> StoreCommands => new()
    {
        { ["keys", "list"], "keys list" },
        { ["keys", "create", "--name", "ops"], "keys create" },
        { ["tenants", "list"], "tenants list" },
        { ["credits", "add", "--tenant", "alice", "5"], "credits add" },
        { ["usage"], "usage" },
    };

    [Theory]
    [MemberData(nameof(StoreCommands))]
    public async Task Store_commands_report_an_unreachable_or_missing_postgresql_in_one_line_and_exit_3(string[] command, string name)
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-pg", Guid.NewGuid().ToString("N"));
        var missingDatabase = new Npgsql.NpgsqlConnectionStringBuilder(TestPostgres.ServerConnectionString) { Database = "kinema_no_such_db" }.ConnectionString;

        var refused = await CliRunner.RunAsync([.. command, "--data", data], new Dictionary<string, string>
        {
            ["Kinema__Store__Provider"] = "postgres",
            ["ConnectionStrings__Kinema"] = "Host=127.0.0.1;Port=9;Username=postgres;Database=kinema;Timeout=3",
        });
        var missing = await CliRunner.RunAsync([.. command, "--data", data], new Dictionary<string, string>
        {
            ["Kinema__Store__Provider"] = "postgres",
            ["ConnectionStrings__Kinema"] = missingDatabase,
        });
        var unset = await CliRunner.RunAsync([.. command, "--data", data], new Dictionary<string, string> { ["Kinema__Store__Provider"] = "postgres" });

        refused.ExitCode.Should().Be(3, refused.Stderr);
        refused.Stderr.Trim().Should().Be($"kinema {name}: the task store cannot be reached: Failed to connect to 127.0.0.1:9 (Connection refused) (check Kinema:Store:Provider and ConnectionStrings:Kinema)");
        refused.Stdout.Should().BeEmpty("nothing, not even a table's header, is printed before the store answers");
        missing.ExitCode.Should().Be(3, missing.Stderr);
        missing.Stderr.Should().Contain("database \"kinema_no_such_db\" does not exist").And.NotContain("   at ");
        unset.ExitCode.Should().Be(2, unset.Stderr);
        unset.Stderr.Trim().Should().Be($"kinema {name}: Kinema:Store:Provider is 'postgres' but ConnectionStrings:Kinema is not set.");
    }

    [Fact]
    public async Task A_data_directory_from_a_newer_kinema_is_refused_in_one_line_by_store_commands_and_serve()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-newer", Guid.NewGuid().ToString("N"));
        (await CliRunner.RunAsync(["tenants", "create", "alice", "--data", data])).ExitCode.Should().Be(0);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(data, "kinema.db")};Pooling=false"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 999;";
            command.ExecuteNonQuery();
        }

        var list = await CliRunner.RunAsync(["tenants", "list", "--data", data]);
        var serve = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0", "--data", data]);

        list.ExitCode.Should().Be(3, list.Stdout + list.Stderr);
        list.Stdout.Should().BeEmpty();
        list.Stderr.Trim().Should().MatchRegex(
            @"^kinema tenants list: the database was written by a newer Kinema \(schema 999; this build knows \d+\); run a Kinema at least that new, or restore a backup taken before the upgrade$");
        serve.ExitCode.Should().Be(3, serve.Stdout + serve.Stderr);
        (serve.Stdout + serve.Stderr).Trim().Should().StartWith("kinema serve: the database was written by a newer Kinema (schema 999;")
            .And.NotContain("\n").And.NotContain("Unhandled");
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task Serve_on_an_unreachable_postgresql_says_so_in_one_line_and_exits_3()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-pg", Guid.NewGuid().ToString("N"));

        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0", "--data", data], new Dictionary<string, string>
        {
            ["Kinema__Store__Provider"] = "postgres",
            ["ConnectionStrings__Kinema"] = "Host=127.0.0.1;Port=9;Username=postgres;Database=kinema;Timeout=3",
        });

        result.ExitCode.Should().Be(3, result.Stdout + result.Stderr);
        (result.Stdout + result.Stderr).Trim().Should().Be(
            "kinema serve: the task store cannot be reached: Failed to connect to 127.0.0.1:9 (Connection refused) (check Kinema:Store:Provider and ConnectionStrings:Kinema)");
    }

    [Fact]
    public async Task Keys_create_prints_the_key_last_and_revoke_stops_it()
    {
        var data = Path.Combine(Path.GetTempPath(), "kinema-cli-keys", Guid.NewGuid().ToString("N"));
        var created = await CliRunner.RunAsync(["keys", "create", "--name", "carol", "--data", data]);
        var key = created.Stdout.TrimEnd().Split('\n')[^1].Trim();
        var list = await CliRunner.RunAsync(["keys", "list", "--data", data]);
        var revoke = await CliRunner.RunAsync(["keys", "revoke", key[..12], "--data", data]);
        var listAfter = await CliRunner.RunAsync(["keys", "list", "--data", data]);

        created.ExitCode.Should().Be(0);
        key.Should().MatchRegex("^kin_[0-9A-Za-z]{40}$");
        list.Stdout.Should().Contain("carol").And.Contain("active").And.NotContain(key);
        revoke.ExitCode.Should().Be(0);
        listAfter.Stdout.Should().Contain("revoked");
        var asJson = await CliRunner.RunAsync(["keys", "list", "--json", "--data", data]);
        JsonDocument.Parse(asJson.Stdout.Split('\n')[0]).RootElement.GetProperty("status").GetString().Should().Be("revoked");
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task Webhooks_can_be_added_listed_and_their_deliveries_seen_and_replayed()
    {
        var added = await CliRunner.RunAsync(["webhooks", "add", "https://hooks.example.com/kinema", "--events", "task.completed,task.failed", .. Connection(Server.BobKey)]);
        var listed = await CliRunner.RunAsync(["webhooks", "list", .. Connection(Server.BobKey)]);
        var deliveries = await CliRunner.RunAsync(["webhooks", "deliveries", .. Connection(Server.BobKey)]);
        var replayMissing = await CliRunner.RunAsync(["webhooks", "replay", "msg_nope", .. Connection(Server.BobKey)]);
        var refused = await CliRunner.RunAsync(["webhooks", "add", "https://hooks.example.com/x", "--events", "task.exploded", .. Connection(Server.BobKey)]);

        added.ExitCode.Should().Be(0, added.Stderr);
        JsonDocument.Parse(added.Stdout).RootElement.GetProperty("secret").GetString().Should().StartWith("whsec_");
        JsonDocument.Parse(listed.Stdout).RootElement.GetProperty("data")[0].GetProperty("url").GetString().Should().Be("https://hooks.example.com/kinema");
        deliveries.ExitCode.Should().Be(0);
        replayMissing.ExitCode.Should().Be(2);
        refused.ExitCode.Should().Be(2);
        refused.Stderr.Should().Contain("task.exploded").And.NotContain("{\"error\"", "the envelope's message is shown, not its JSON");
    }
}
