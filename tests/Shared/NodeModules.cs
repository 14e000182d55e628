namespace Kinema.Testing;

/// <summary>The test suite's npm packages (tests/node, installed with <c>npm ci</c>; ./test does it).</summary>
internal static class NodeModules
{
    /// <summary>
    /// <c>KINEMA_TEST_NODE_MODULES</c> (set by <c>./test</c>), else <c>tests/node/node_modules</c> found above the test
    /// binaries, checked to hold <paramref name="package"/>.
    /// </summary>
    public static string Find(string package)
    {
        if (Environment.GetEnvironmentVariable("KINEMA_TEST_NODE_MODULES") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "tests", "node", "node_modules");
            if (Directory.Exists(Path.Combine(candidate, package)))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"{package} is not installed: run 'cd tests/node && npm ci' (./test does it).");
    }
}
