using System.CommandLine;
using Kinema.Core;
using Kinema.Core.Billing;
using Kinema.Core.Storage;
using Kinema.Core.Tenants;

namespace Kinema.Cli.Commands;

/// <summary>
/// <c>kinema tenants create|list</c>, <c>kinema credits add</c>, <c>kinema usage</c>. Like <c>keys</c>, they open the
/// store directly (the data directory's SQLite file, or the PostgreSQL database the configuration names) rather than
/// calling the admin API: they work while the server is down, need no admin key (the operator who can read the
/// database is already trusted with it — and making the first admin key needs exactly this), and every change still
/// goes through the store's transactions, so it is as safe next to a running server as an API call.
/// </summary>
internal static class BillingCommands
{
    public static Command Tenants()
    {
        var tenants = new Command("tenants", "Manage tenants (accounts with a balance and an optional cap on tasks in flight).");
        tenants.Subcommands.Add(CreateTenant());
        tenants.Subcommands.Add(ListTenants());
        return tenants;
    }

    public static Command Credits()
    {
        var credits = new Command("credits", "Grant credits to a tenant (or take them away, never below zero).");
        var tenant = new Option<string>("--tenant") { Description = "The tenant.", Required = true };
        var amount = new Argument<long>("amount") { Description = "Credits to add; negative to take away." };
        var note = new Option<string?>("--note") { Description = "Why, kept in the ledger." };
        var data = CommonOptions.Data();
        var add = new Command("add", "Add credits; prints the new balance.") { tenant, amount, note, data };
        add.SetAction(async (result, cancellationToken) =>
        {
            if (result.GetValue(amount) is 0 or < -AccountRules.MaxCreditChange or > AccountRules.MaxCreditChange)
            {
                await Console.Error.WriteLineAsync($"kinema credits add: the amount must be a whole number of credits from -{AccountRules.MaxCreditChange} to {AccountRules.MaxCreditChange}, other than 0");
                return ExitCodes.Usage;
            }

            if (AccountRules.NoteProblem(result.GetValue(note)) is { } badNote)
            {
                await Console.Error.WriteLineAsync($"kinema credits add: --note {badNote}");
                return ExitCodes.Usage;
            }

            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            var outcome = await store.Billing.AddCreditsAsync(result.GetValue(tenant)!, result.GetValue(amount), null,
                result.GetValue(note) ?? "kinema credits add", cancellationToken);
            switch (outcome.Kind)
            {
                case CreditOutcomeKind.Applied:
                    Console.WriteLine($"Tenant '{outcome.Tenant!.Id}' now has {outcome.Tenant.Balance} credits.");
                    return ExitCodes.Success;
                case CreditOutcomeKind.UnknownTenant:
                    await Console.Error.WriteLineAsync($"kinema credits add: no tenant '{result.GetValue(tenant)}' (kinema tenants create, or keys create, makes one)");
                    return ExitCodes.Usage;
                default:
                    await Console.Error.WriteLineAsync($"kinema credits add: tenant '{outcome.Tenant!.Id}' has only {outcome.Tenant.Balance} credits; a balance never goes below zero");
                    return ExitCodes.Usage;
            }
        });
        credits.Subcommands.Add(add);
        return credits;
    }

    public static Command Usage()
    {
        var data = CommonOptions.Data();
        var command = new Command("usage", "Balance and credits granted, charged and refunded, per tenant.") { data };
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            // Read before the header: a store that cannot be reached is then told alone, not under a table's header.
            var usages = await store.Billing.UsageAsync(cancellationToken);
            Console.WriteLine($"{"TENANT",-24} {"BALANCE",10} {"GRANTED",10} {"CHARGED",10} {"REFUNDED",10} {"TASKS",8} MAX_IN_FLIGHT");
            foreach (var usage in usages)
            {
                Console.WriteLine($"{usage.TenantId,-24} {usage.Balance,10} {usage.Granted,10} {usage.Charged,10} {usage.Refunded,10} {usage.Tasks,8} " +
                                  (usage.MaxInFlight?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateTenant()
    {
        var id = new Argument<string>("id") { Description = "The tenant's id (what keys name with --tenant)." };
        var cap = new Option<int?>("--max-in-flight") { Description = "At most this many pending and processing tasks at once (default: no cap)." };
        var data = CommonOptions.Data();
        var command = new Command("create", "Make a tenant, or set an existing tenant's --max-in-flight.") { id, cap, data };
        command.SetAction(async (result, cancellationToken) =>
        {
            var tenant = result.GetValue(id)!.Trim();
            if (AccountRules.NameProblem(tenant) is { } badId)
            {
                await Console.Error.WriteLineAsync(
                    $"kinema tenants create: the id {badId} (a tenant id is 1 to {AccountRules.MaxNameLength} printable characters)");
                return ExitCodes.Usage;
            }

            if (result.GetValue(cap) is < 1 or > AccountRules.MaxInFlight)
            {
                await Console.Error.WriteLineAsync($"kinema tenants create: --max-in-flight must be from 1 to {AccountRules.MaxInFlight}");
                return ExitCodes.Usage;
            }

            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            var account = await store.Billing.UpsertTenantAsync(tenant, result.GetValue(cap), cancellationToken);
            Console.WriteLine($"Tenant '{account.Id}': balance {account.Balance}, max in flight {account.MaxInFlight?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"}.");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ListTenants()
    {
        var data = CommonOptions.Data();
        var command = new Command("list", "List tenants with their balances.") { data };
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var store = KinemaDataStore.Open(KinemaPaths.Resolve(result.GetValue(data)));
            var accounts = await store.Billing.ListTenantsAsync(cancellationToken);
            Console.WriteLine($"{"TENANT",-24} {"BALANCE",10} {"MAX_IN_FLIGHT",14} CREATED");
            foreach (var account in accounts)
            {
                Console.WriteLine($"{account.Id,-24} {account.Balance,10} {account.MaxInFlight?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",14} {account.CreatedAt:yyyy-MM-dd HH:mm:ss}");
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
