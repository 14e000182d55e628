namespace Kinema.Core.Tasks;

/// <summary>Where a task is in its life. Completed, failed and cancelled are terminal.</summary>
public enum TaskState
{
    /// <summary>Accepted and durable; no worker has it yet (the contract's <c>pending</c>).</summary>
    Pending,
    /// <summary>A worker holds its lease and is making it.</summary>
    Processing,
    /// <summary>Its result is stored.</summary>
    Completed,
    /// <summary>It cannot be made; the error says why.</summary>
    Failed,
    /// <summary>The client cancelled it.</summary>
    Cancelled,
}

/// <summary>The wire names of <see cref="TaskState"/>.</summary>
public static class TaskStateNames
{
    /// <summary>The contract's name for a state.</summary>
    public static string ToWire(this TaskState state) => state switch
    {
        TaskState.Pending => "pending",
        TaskState.Processing => "processing",
        TaskState.Completed => "completed",
        TaskState.Failed => "failed",
        TaskState.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    /// <summary>Parses a stored or wire name.</summary>
    public static bool TryParse(string? value, out TaskState state)
    {
        switch (value)
        {
            case "pending": state = TaskState.Pending; return true;
            case "processing": state = TaskState.Processing; return true;
            case "completed": state = TaskState.Completed; return true;
            case "failed": state = TaskState.Failed; return true;
            case "cancelled": state = TaskState.Cancelled; return true;
            default: state = default; return false;
        }
    }

    /// <summary>Parses a stored name, which is always valid.</summary>
    public static TaskState Parse(string value) =>
        TryParse(value, out var state) ? state : throw new FormatException($"Unknown task state '{value}'.");

    /// <summary>True for completed, failed and cancelled.</summary>
    public static bool IsTerminal(this TaskState state) =>
        state is TaskState.Completed or TaskState.Failed or TaskState.Cancelled;
}
