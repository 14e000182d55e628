using System.Security.Cryptography;

namespace Kinema.Core.Tasks;

/// <summary>
/// Task ids: <c>task_</c> + a 26-character ULID (48-bit millisecond time, 80 random bits, Crockford base32),
/// the shape the contract's service uses. Sortable by creation time, unguessable, URL-safe.
/// </summary>
public static class TaskIds
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    private static readonly System.Buffers.SearchValues<char> AlphabetValues = System.Buffers.SearchValues.Create(Alphabet);

    /// <summary>The prefix every task id starts with.</summary>
    public const string Prefix = "task_";

    private static readonly Lock Gate = new();
    private static ulong _lastMilliseconds;
    private static UInt128 _lastRandom;

    /// <summary>
    /// A new id for a task created at <paramref name="now"/>. Monotonic within this process (the ULID spec's monotonic
    /// variant): ids made in the same millisecond count up from a random start, so id order is creation order and a
    /// list paged by id never reorders tasks made close together.
    /// </summary>
    public static string New(DateTimeOffset now)
    {
        var milliseconds = (ulong)Math.Max(0, now.ToUnixTimeMilliseconds());
        UInt128 random;
        lock (Gate)
        {
            if (milliseconds <= _lastMilliseconds)
            {
                // Same millisecond (or the clock stepped back): stay on the last time and count up.
                milliseconds = _lastMilliseconds;
                random = _lastRandom + 1;
            }
            else
            {
                Span<byte> fresh = stackalloc byte[10];
                RandomNumberGenerator.Fill(fresh);
                // Leave headroom (top bit clear) so counting up within a millisecond never overflows the 80 bits.
                fresh[0] &= 0x7F;
                random = 0;
                foreach (var b in fresh)
                {
                    random = (random << 8) | b;
                }
            }

            _lastMilliseconds = milliseconds;
            _lastRandom = random;
        }

        Span<byte> bytes = stackalloc byte[16];
        for (var i = 0; i < 6; i++)
        {
            bytes[i] = (byte)(milliseconds >> (8 * (5 - i)));
        }

        for (var i = 0; i < 10; i++)
        {
            bytes[15 - i] = (byte)(random >> (8 * i));
        }

        return Prefix + Encode(bytes);
    }

    /// <summary>True when the value has the shape of a task id (cheap check before a lookup).</summary>
    public static bool IsWellFormed(string? value) =>
        value is { Length: 31 } && value.StartsWith(Prefix, StringComparison.Ordinal)
        && value.AsSpan(Prefix.Length).IndexOfAnyExcept(AlphabetValues) < 0;

    /// <summary>
    /// The creation time a ULID carries in its first ten digits (the 48-bit millisecond time), or null when
    /// <paramref name="ulid"/> does not start with ten ULID digits.
    /// </summary>
    public static DateTimeOffset? TimeOf(ReadOnlySpan<char> ulid)
    {
        if (ulid.Length < 10)
        {
            return null;
        }

        long milliseconds = 0;
        foreach (var digit in ulid[..10])
        {
            var value = Alphabet.IndexOf(digit, StringComparison.Ordinal);
            if (value < 0)
            {
                return null;
            }

            milliseconds = (milliseconds << 5) | (uint)value;
        }

        return milliseconds <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds)
            : null;
    }

    private static string Encode(ReadOnlySpan<byte> bytes)
    {
        // 128 bits → 26 base32 digits, most significant first (the first digit carries 3 bits).
        var high = (ulong)bytes[0] << 56 | (ulong)bytes[1] << 48 | (ulong)bytes[2] << 40 | (ulong)bytes[3] << 32
                   | (ulong)bytes[4] << 24 | (ulong)bytes[5] << 16 | (ulong)bytes[6] << 8 | bytes[7];
        var low = (ulong)bytes[8] << 56 | (ulong)bytes[9] << 48 | (ulong)bytes[10] << 40 | (ulong)bytes[11] << 32
                  | (ulong)bytes[12] << 24 | (ulong)bytes[13] << 16 | (ulong)bytes[14] << 8 | bytes[15];
        var value = (UInt128)high << 64 | low;
        Span<char> chars = stackalloc char[26];
        for (var i = 25; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }

        return new string(chars);
    }
}
