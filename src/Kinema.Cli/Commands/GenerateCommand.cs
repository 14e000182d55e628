using System.CommandLine;
using Kinema.Client;
using Kinema.Contracts.Requests;
using Kinema.Contracts.Rules;

namespace Kinema.Cli.Commands;

/// <summary><c>kinema generate "prompt" …</c>: submit, watch with a progress bar, download.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var connection = new Connection();
        var prompt = new Argument<string?>("prompt") { Description = "What the video shows.", Arity = ArgumentArity.ZeroOrOne };
        var mode = new Option<string>("--mode") { Description = "std (720p), pro (1080p) or 4k.", DefaultValueFactory = _ => GenerationModes.Standard };
        var duration = new Option<int>("--duration") { Description = "Seconds, 3 to 15.", DefaultValueFactory = _ => 5 };
        var aspect = new Option<string>("--aspect") { Description = "16:9, 9:16 or 1:1.", DefaultValueFactory = _ => AspectRatios.Landscape };
        var audio = new Option<bool>("--audio") { Description = "Generate an audio track." };
        var watermark = new Option<bool>("--watermark") { Description = "Add a watermark." };
        var negative = new Option<string?>("--negative") { Description = "What to keep out of the video." };
        var first = new Option<string?>("--first") { Description = "First frame: a local file or a URL." };
        var last = new Option<string?>("--last") { Description = "Last frame (needs --first)." };
        var element = new Option<string[]>("--element") { Description = "A subject, name=front.jpg,side.jpg[,…] (2–4 pictures); mention it as @name.", AllowMultipleArgumentsPerToken = false };
        var shot = new Option<string[]>("--shot") { Description = "A storyboard shot, seconds:prompt (repeat; durations add up to the video's)." };
        var smartShots = new Option<bool>("--auto-shots") { Description = "Let the engine split the prompt into shots (shot_type intelligence)." };
        var output = new Option<string?>("--output", "-o") { Description = "Where to save the video (default: <task id>.mp4)." };
        var noWait = new Option<bool>("--no-wait") { Description = "Print the task id and return at once." };
        var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "Makes a retried submit return the first task." };
        var command = new Command("generate", "Make a video from a prompt: submit, show progress, download.")
        {
            prompt, mode, duration, aspect, audio, watermark, negative, first, last, element, shot, smartShots, output, noWait, idempotencyKey,
        };
        connection.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            GenerationRequest request;
            try
            {
                request = BuildRequest(result);
            }
            catch (Exception exception) when (exception is ArgumentException or FileNotFoundException or FormatException)
            {
                await Console.Error.WriteLineAsync($"kinema generate: {exception.Message}");
                return ExitCodes.Usage;
            }

            var violations = GenerationRequestRules.Validate(request, GenerationRuleOptions.Default with { AllowPrivateNetworks = true });
            if (violations.Count > 0)
            {
                foreach (var violation in violations)
                {
                    await Console.Error.WriteLineAsync($"kinema generate: {FlagFor(violation.Param)}{violation.Message}");
                }

                return ExitCodes.Usage;
            }

            var (client, problem) = connection.CreateClient(result);
            if (client is null)
            {
                await Console.Error.WriteLineAsync($"kinema generate: {problem}");
                return ExitCodes.Unreachable;
            }

            using (client)
            {
                var json = result.GetValue(connection.Json);
                try
                {
                    var operation = await client.CreateAsync(request, result.GetValue(idempotencyKey), cancellationToken);
                    if (result.GetValue(noWait))
                    {
                        Console.WriteLine(json ? $"{{\"task_id\":\"{operation.Id}\"}}" : operation.Id);
                        return ExitCodes.Success;
                    }

                    if (!json)
                    {
                        await Console.Error.WriteLineAsync($"Submitted {operation.Id}");
                    }

                    var task = await TaskOutput.WaitAsync(client, operation.Id, json, cancellationToken);
                    var path = await client.DownloadAsync(task, result.GetValue(output) ?? operation.Id + ".mp4", cancellationToken);
                    if (json)
                    {
                        TaskOutput.PrintJson(task with { });
                        await Console.Error.WriteLineAsync(path);
                    }
                    else
                    {
                        Console.WriteLine($"Saved {path} ({task.Result?.Videos[0].Width}x{task.Result?.Videos[0].Height}, {task.Result?.Videos[0].Duration}s, engine {task.Engine})");
                    }

                    return ExitCodes.Success;
                }
                catch (KinemaException exception)
                {
                    return TaskOutput.Fail(exception, "generate");
                }
            }
        });

        return command;

        GenerationRequest BuildRequest(ParseResult result)
        {
            var firstFrame = result.GetValue(first);
            var lastFrame = result.GetValue(last);
            if (lastFrame is not null && firstFrame is null)
            {
                throw new ArgumentException("--last needs --first: a last frame alone is not allowed");
            }

            var images = new List<string>();
            if (firstFrame is not null)
            {
                images.Add(ImageInput.FromPathOrUrl(firstFrame));
            }

            if (lastFrame is not null)
            {
                images.Add(ImageInput.FromPathOrUrl(lastFrame));
            }

            var shots = (result.GetValue(shot) ?? []).Select(ParseShot).ToList();
            var elements = (result.GetValue(element) ?? []).Select(ParseElement).ToList();
            var auto = result.GetValue(smartShots);
            var text = result.GetValue(prompt);
            var totalDuration = shots.Count > 0 && result.GetResult(duration) is null or { Implicit: true } ? shots.Sum(s => s.Duration) : result.GetValue(duration);
            return new GenerationRequest
            {
                Model = ModelNames.KlingV3,
                Prompt = text,
                Mode = result.GetValue(mode)!,
                Duration = totalDuration,
                AspectRatio = result.GetValue(aspect)!,
                NegativePrompt = result.GetValue(negative),
                Audio = result.GetValue(audio),
                Watermark = result.GetValue(watermark),
                ImageUrls = images,
                MultiShot = shots.Count > 0 || auto,
                ShotType = shots.Count > 0 ? ShotTypes.Customize : auto ? ShotTypes.Intelligence : null,
                MultiPrompt = shots.Select((s, i) => new Shot(i + 1, s.Prompt, s.Duration)).ToList(),
                Elements = elements,
            };
        }
    }

    private static (int Duration, string Prompt) ParseShot(string value)
    {
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !int.TryParse(value.AsSpan(0, colon), System.Globalization.CultureInfo.InvariantCulture, out var seconds))
        {
            throw new FormatException($"--shot '{value}' must be seconds:prompt, e.g. --shot \"5:wide shot of the beach\"");
        }

        return (seconds, value[(colon + 1)..].Trim());
    }

    private static Element ParseElement(string value)
    {
        var equals = value.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new FormatException($"--element '{value}' must be name=front.jpg,side.jpg");
        }

        var name = value[..equals].Trim().TrimStart('@');
        var pictures = value[(equals + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new Element(name, name, pictures.Select(ImageInput.FromPathOrUrl).ToList());
    }

    private static string FlagFor(string param) => param switch
    {
        "duration" => "--duration: ",
        "mode" => "--mode: ",
        "aspect_ratio" => "--aspect: ",
        "prompt" => "prompt: ",
        "negative_prompt" => "--negative: ",
        _ when param.StartsWith("multi_prompt", StringComparison.Ordinal) => "--shot: ",
        _ when param.StartsWith("elements", StringComparison.Ordinal) => "--element: ",
        _ when param.StartsWith("image_urls", StringComparison.Ordinal) => "--first/--last: ",
        _ => "",
    };
}
