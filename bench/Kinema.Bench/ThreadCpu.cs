using System.Globalization;

namespace Kinema.Bench;

/// <summary>
/// This process's CPU time by thread name (user and kernel), read from <c>/proc/self/task</c>: where a request's CPU goes
/// between the thread pool, the socket engine, the SQLite writer and the garbage collector.
/// </summary>
internal static class ThreadCpu
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    public static int Count => Directory.GetDirectories("/proc/self/task").Length;

    public static Dictionary<string, (double User, double Kernel)> Snapshot()
    {
        var totals = new Dictionary<string, (double User, double Kernel)>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var name = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..stat.LastIndexOf(')')];
                // Thread-pool workers are numbered or not; one name for all of them.
                name = name.StartsWith(".NET TP Worker", StringComparison.Ordinal) ? "thread pool" : name;
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var user = double.Parse(fields[11], CultureInfo.InvariantCulture) / TicksPerSecond;
                var kernel = double.Parse(fields[12], CultureInfo.InvariantCulture) / TicksPerSecond;
                totals[name] = totals.TryGetValue(name, out var sum) ? (sum.User + user, sum.Kernel + kernel) : (user, kernel);
            }
            catch (IOException)
            {
                // The thread ended between the listing and the read.
            }
        }

        return totals;
    }

    /// <summary>The CPU each thread name used between two snapshots, in µs a request, largest first.</summary>
    public static string PerRequest(
        Dictionary<string, (double User, double Kernel)> before, Dictionary<string, (double User, double Kernel)> after, double requests) =>
        string.Join(", ", after
            .Select(entry =>
            {
                var start = before.GetValueOrDefault(entry.Key);
                return (Name: entry.Key, User: entry.Value.User - start.User, Kernel: entry.Value.Kernel - start.Kernel);
            })
            .Where(entry => entry.User + entry.Kernel > 0.005)
            .OrderByDescending(entry => entry.User + entry.Kernel)
            .Select(entry => string.Create(CultureInfo.InvariantCulture,
                $"{entry.Name} {entry.User * 1e6 / requests:F1}+{entry.Kernel * 1e6 / requests:F1}k")));
}
