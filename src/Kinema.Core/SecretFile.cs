namespace Kinema.Core;

/// <summary>Files holding secrets (signing keys, the CLI's key): readable by their owner only.</summary>
public static class SecretFile
{
    /// <summary>Reads a random secret of at least 32 bytes, making one on first use.</summary>
    public static byte[] LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllBytes(path);
            if (existing.Length >= 32)
            {
                return existing;
            }
        }

        var secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        Write(path, secret);
        return secret;
    }

    /// <summary>Writes the file, created with mode 0600 on Unix so it is never briefly world-readable.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var file = new FileStream(path, options);
        file.Write(content);
    }
}
