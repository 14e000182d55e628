namespace Kinema.Core;

/// <summary>
/// The secret that signs result URLs and upstream callback URLs. Every node that serves the same tasks must hold the
/// same one: a file in the data directory for a single node, a row in the shared database for several.
/// </summary>
public sealed class SigningKey
{
    private readonly Lazy<byte[]> _value;

    /// <summary>A key loaded on first use by <paramref name="load"/>.</summary>
    public SigningKey(Func<byte[]> load) => _value = new Lazy<byte[]>(load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The key's bytes (at least 32).</summary>
    public byte[] Value => _value.Value;

    /// <summary>The single-node key: a file of the data directory, made on first use.</summary>
    public static SigningKey FromFile(KinemaPaths paths) => new(() => SecretFile.LoadOrCreate(paths.SigningKey));
}
