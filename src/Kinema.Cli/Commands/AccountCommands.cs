using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kinema.Client;
using Kinema.Contracts.Json;

namespace Kinema.Cli.Commands;

/// <summary>
/// <c>kinema balance</c>, <c>kinema models</c> and <c>kinema upload FILE</c>: what a key may ask a server about itself,
/// over the API (the admin commands <c>tenants</c>, <c>credits</c> and <c>usage</c> work on the store instead).
/// </summary>
internal static class AccountCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Balance();
        yield return Models();
        yield return Upload();
    }

    private static Command Balance() => ClientCommand.Create("balance", "Show the credits left to your key's tenant.", async (client, json, _, ct) =>
    {
        var balance = await client.GetBalanceAsync(ct);
        Console.WriteLine(json
            ? JsonSerializer.Serialize(balance, KinemaJsonContext.Wire.BalanceResponse)
            : $"{balance.TenantId}: {balance.Balance.ToString(CultureInfo.InvariantCulture)} credits");
        return ExitCodes.Success;
    });

    private static Command Models() => ClientCommand.Create("models", "List the models the server accepts and the engines behind each.", async (client, json, _, ct) =>
    {
        var models = await client.ListModelsAsync(ct);
        foreach (var model in models)
        {
            Console.WriteLine(json
                ? JsonSerializer.Serialize(model, KinemaJsonContext.Wire.ModelInfo)
                : $"{model.Id,-20} {string.Join(',', model.Engines),-24} {model.OwnedBy}");
        }

        return ExitCodes.Success;
    });

    private static Command Upload()
    {
        var file = new Argument<FileInfo>("file") { Description = "A JPEG, PNG or WebP picture (a GIF is kept as a PNG of its first frame)." };
        return ClientCommand.Create("upload", "Upload a picture; prints the link that image_urls accept for 72 hours.", async (client, json, result, ct) =>
        {
            var path = result.GetValue(file)!;
            if (!path.Exists)
            {
                await Console.Error.WriteLineAsync($"kinema upload: no such file: {path.FullName}");
                return ExitCodes.Usage;
            }

            var upload = await client.UploadImageAsync(path.FullName, ct);
            Console.WriteLine(json ? JsonSerializer.Serialize(upload, KinemaJsonContext.Wire.UploadResponse) : upload.Url);
            return ExitCodes.Success;
        }, [file]);
    }
}
