using Kinema.Bench;

return args.FirstOrDefault() switch
{
    "http" => await HttpBenchmark.RunAsync(args[1..]),
    "http-create" => await HttpBenchmark.RunCreatesAsync(args[1..]),
    "billing" => await BillingBenchmark.RunAsync(args[1..]),
    "render" => await RenderBenchmark.RunAsync(args[1..]),
    "store" => await StoreBenchmark.RunAsync(args[1..]),
    "sqlite-insert" => await SqliteInsertBenchmark.RunAsync(args[1..]),
    "status-scale" => await StatusScaleBenchmark.RunAsync(args[1..]),
    "import" => await ImportBenchmark.RunAsync(args[1..]),
    "upstream" => await UpstreamBenchmark.RunAsync(args[1..]),
    "sse" => await SseBenchmark.RunAsync(args[1..]),
    "sse-server" => await SseBenchmark.ServeAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: bench/run http [seconds] [connections] [sqlite|postgres] | http-create [seconds] [connections] [rounds] [sqlite|postgres] | render [runs] | store [count] [callers] [sqlite|postgres] | sqlite-insert [rows] [rows per transaction] | status-scale [sqlite|postgres] [large] [seconds] [connections] | import [tasks] [rounds] postgres | upstream [in-flight] [sample] [poll-seconds]");
    return 2;
}
