namespace Kinema.Testing;

/// <summary>The checkout the tests run from, for tests that read its files (README, workflows, sources).</summary>
internal static class Repository
{
    /// <summary>The directory holding Kinema.sln, found above the test binaries.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Kinema.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Kinema.sln above {AppContext.BaseDirectory}.");
    }
}
