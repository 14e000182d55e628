using Kinema.Bench;

return args.FirstOrDefault() switch
{
    "http" => await HttpBenchmark.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: bench/run http [seconds] [connections]");
    return 2;
}
