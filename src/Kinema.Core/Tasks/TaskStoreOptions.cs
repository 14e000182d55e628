using System.ComponentModel.DataAnnotations;

namespace Kinema.Core.Tasks;

/// <summary>Where and how tasks are kept (<c>Kinema:Store</c>).</summary>
public sealed class TaskStoreOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Store";

    /// <summary>fsync every commit (survives power loss). Group commit keeps this cheap.</summary>
    public bool FullSync { get; set; } = true;

    /// <summary>How many times a task may be taken by a worker that then dies before it is failed.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;
}
