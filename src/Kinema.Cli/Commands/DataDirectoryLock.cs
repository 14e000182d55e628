using Kinema.Core;

namespace Kinema.Cli.Commands;

/// <summary>
/// An exclusive lock on the data directory while a server runs: SQLite is one node's store, and recovering
/// orphaned leases at start-up is only safe when no other server can be holding them.
/// </summary>
internal static class DataDirectoryLock
{
    public static FileStream? TryAcquire(KinemaPaths paths)
    {
        try
        {
            // FileShare.None takes an flock on Unix: released by the kernel when the process dies, even by kill -9.
            return new FileStream(paths.LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
