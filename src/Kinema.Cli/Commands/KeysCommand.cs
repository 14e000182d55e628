using System.CommandLine;
using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;

namespace Kinema.Cli.Commands;

/// <summary><c>kinema keys create|list|revoke</c>: API keys of a data directory.</summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var keys = new Command("keys", "Manage API keys (stored only as hashes).");
        keys.Subcommands.Add(CreateKey());
        keys.Subcommands.Add(ListKeys());
        keys.Subcommands.Add(RevokeKey());
        return keys;
    }

    private static Command CreateKey()
    {
        var name = new Option<string>("--name") { Description = "A label for the key.", Required = true };
        var tenant = new Option<string?>("--tenant") { Description = "The tenant the key acts for (default: a tenant named after the key)." };
        var data = CommonOptions.Data();
        var admin = new Option<bool>("--admin") { Description = "May call /v1/admin (tenants, keys, credits, usage of every tenant)." };
        var rpm = new Option<int?>("--rpm") { Description = "This key's own limit of requests per minute (default: Kinema:RateLimits:RequestsPerMinute)." };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON (the key included, once)." };
        var command = new Command("create", "Create a key; the key is printed once, as the last line.") { name, tenant, admin, rpm, data, json };
        command.SetAction(async (result, cancellationToken) =>
        {
            var label = result.GetValue(name)!.Trim();
            if (Core.Tenants.AccountRules.NameProblem(label) is { } badName)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema keys create: --name {badName} (a key's name is 1 to {Core.Tenants.AccountRules.MaxNameLength} printable characters)");
                return ExitCodes.Usage;
            }

            var tenantId = result.GetValue(tenant)?.Trim();
            if (tenantId is not null && Core.Tenants.AccountRules.NameProblem(tenantId) is { } badTenant)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema keys create: --tenant {badTenant} (a tenant id is 1 to {Core.Tenants.AccountRules.MaxNameLength} printable characters)");
                return ExitCodes.Usage;
            }

            if (result.GetValue(rpm) is < 1 or > Core.Tenants.AccountRules.MaxRequestsPerMinute)
            {
                await Console.Error.WriteLineAsync($"kinema keys create: --rpm must be from 1 to {Core.Tenants.AccountRules.MaxRequestsPerMinute}");
                return ExitCodes.Usage;
            }

            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            var created = await store.Keys.CreateAsync(
                new Core.Tenants.NewApiKey(label, tenantId, result.GetValue(admin), result.GetValue(rpm)), cancellationToken);
            if (result.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(
                    new KeyView(created.Record.Id, created.Record.Prefix, created.Record.TenantId, created.Record.Name,
                        created.Record.CreatedAt.ToUnixTimeSeconds(), "active", created.Key, created.Record.IsAdmin, created.Record.RequestsPerMinute),
                    CliJsonContext.Default.KeyView));
                return ExitCodes.Success;
            }

            Console.WriteLine($"Created {(created.Record.IsAdmin ? "admin " : "")}key {created.Record.Id} '{created.Record.Name}' for tenant '{created.Record.TenantId}'.");
            Console.WriteLine("Store it now: it is shown only once.");
            Console.WriteLine(created.Key);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ListKeys()
    {
        var data = CommonOptions.Data();
        var json = new Option<bool>("--json") { Description = "Print one JSON object per key." };
        var command = new Command("list", "List keys (never the keys themselves).") { data, json };
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            var all = await store.Keys.ListAsync(cancellationToken);
            if (result.GetValue(json))
            {
                foreach (var key in all)
                {
                    Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(
                        new KeyView(key.Id, key.Prefix, key.TenantId, key.Name, key.CreatedAt.ToUnixTimeSeconds(),
                            key.RevokedAt is null ? "active" : "revoked", null, key.IsAdmin, key.RequestsPerMinute), CliJsonContext.Default.KeyView));
                }

                return ExitCodes.Success;
            }

            Console.WriteLine($"{"ID",-38} {"PREFIX",-13} {"TENANT",-20} {"NAME",-20} {"CREATED",-20} STATUS");
            foreach (var key in all)
            {
                Console.WriteLine(
                    $"{key.Id,-38} {key.Prefix,-13} {key.TenantId,-20} {key.Name,-20} {key.CreatedAt:yyyy-MM-dd HH:mm:ss}  " +
                    (key.RevokedAt is { } revoked ? $"revoked {revoked:yyyy-MM-dd HH:mm}" : "active") +
                    (key.IsAdmin ? " admin" : "") + (key.RequestsPerMinute is { } limit ? $" rpm={limit}" : ""));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command RevokeKey()
    {
        var id = new Argument<string>("id") { Description = "The key's id or prefix, as 'keys list' shows it." };
        var data = CommonOptions.Data();
        var command = new Command("revoke", "Revoke a key; requests with it answer 401 within seconds.") { id, data };
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            if (await store.Keys.RevokeAsync(result.GetValue(id)!, cancellationToken))
            {
                Console.WriteLine($"Revoked {result.GetValue(id)}.");
                return ExitCodes.Success;
            }

            await Console.Error.WriteLineAsync($"kinema keys revoke: no active key matches '{result.GetValue(id)}'");
            return ExitCodes.Usage;
        });
        return command;
    }
}

/// <summary>A key as <c>--json</c> prints it; <see cref="Key"/> only right after creation.</summary>
internal sealed record KeyView(
    string Id, string Prefix, string Tenant, string Name, long Created, string Status, string? Key, bool Admin = false, int? Rpm = null);
