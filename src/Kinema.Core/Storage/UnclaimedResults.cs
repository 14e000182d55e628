using Kinema.Core.Tasks;

namespace Kinema.Core.Storage;

/// <summary>
/// Files saved for a task whose completion was refused: the task was cancelled, failed or deleted while its video was
/// being made or archived. Nothing links to them any more, and a deleted task's files must not outlive it. A task still
/// pending or processing belongs to another attempt, which writes the same names, so its files are left alone, as
/// are a completed task's (the attempt that completed it wrote them).
/// </summary>
internal static class UnclaimedResults
{
    /// <summary>Whether the files of a task whose current state is <paramref name="current"/> (null: deleted) are nobody's.</summary>
    public static bool AreOrphaned(TaskRecord? current) => current is null or { State: TaskState.Cancelled or TaskState.Failed };

    /// <summary>Deletes the task's files when they are nobody's; true when it did.</summary>
    public static async Task<bool> RemoveAsync(IResultStorage storage, string taskId, TaskRecord? current, CancellationToken cancellationToken)
    {
        if (!AreOrphaned(current))
        {
            return false;
        }

        await storage.DeleteAsync(taskId, cancellationToken);
        return true;
    }
}
