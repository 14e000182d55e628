using System.Security.Cryptography;
using System.Text;

namespace Kinema.Core.Tenants;

/// <summary>A stored API key: never the key itself, only its hash and a display prefix.</summary>
/// <param name="Id">The key's id (<c>key_…</c>), for listing and revoking.</param>
/// <param name="TenantId">The tenant whose tasks the key sees.</param>
/// <param name="Name">A label for humans.</param>
/// <param name="Prefix">The key's first characters, to recognise it in a list.</param>
/// <param name="CreatedAt">When it was made.</param>
/// <param name="RevokedAt">When it was revoked, or null while valid.</param>
/// <param name="IsAdmin">May call <c>/v1/admin/*</c> (tenants, keys, credits, usage of every tenant).</param>
/// <param name="RequestsPerMinute">This key's own rate limit, or null for the server's default.</param>
public sealed record ApiKeyRecord(
    string Id, string TenantId, string Name, string Prefix, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt,
    bool IsAdmin = false, int? RequestsPerMinute = null);

/// <summary>A key to make.</summary>
/// <param name="Name">A label for humans.</param>
/// <param name="TenantId">Its tenant; by default a new tenant named after the key.</param>
/// <param name="IsAdmin">May call the admin API.</param>
/// <param name="RequestsPerMinute">Its own rate limit, or null for the server's default.</param>
public sealed record NewApiKey(string Name, string? TenantId = null, bool IsAdmin = false, int? RequestsPerMinute = null)
{
    /// <summary>The tenant the key will belong to.</summary>
    public string EffectiveTenantId => string.IsNullOrWhiteSpace(TenantId) ? Name : TenantId;
}

/// <summary>A key just made: the record, and the plaintext shown once.</summary>
public sealed record CreatedApiKey(ApiKeyRecord Record, string Key);

/// <summary>Making, hashing and recognising API keys.</summary>
public static class ApiKeyFormat
{
    /// <summary>Every key starts with this, so leaked keys are easy to scan for.</summary>
    public const string Prefix = "kin_";
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const int RandomLength = 40; // 40 base62 digits ≈ 238 bits.

    /// <summary>A new random key.</summary>
    public static string NewKey() => Prefix + RandomNumberGenerator.GetString(Alphabet, RandomLength);

    /// <summary>
    /// The stored form of a key. A single SHA-256 is right here (unlike for passwords): keys carry 238 random
    /// bits, so there is nothing to brute-force, and the per-request cost must stay tiny.
    /// </summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The part of a key safe to show in a list.</summary>
    public static string DisplayPrefix(string key) => key.Length > 12 ? key[..12] : key;
}

/// <summary>The API keys of every tenant.</summary>
public interface IApiKeyStore
{
    /// <summary>Makes a key for a tenant (by default a new tenant named after the key).</summary>
    Task<CreatedApiKey> CreateAsync(string name, string? tenantId, CancellationToken cancellationToken) =>
        CreateAsync(new NewApiKey(name, tenantId), cancellationToken);

    /// <summary>Makes a key; its tenant gets an account (balance 0) in the same transaction when it has none.</summary>
    Task<CreatedApiKey> CreateAsync(NewApiKey key, CancellationToken cancellationToken);

    /// <summary>
    /// Makes a key only if the store holds none yet (the key a first start prints), or returns null. Atomic across
    /// nodes: of several nodes starting at once on an empty database, exactly one makes it.
    /// </summary>
    Task<CreatedApiKey?> CreateFirstAsync(NewApiKey key, CancellationToken cancellationToken);

    /// <summary>The valid key matching a presented plaintext key, or null.</summary>
    Task<ApiKeyRecord?> FindValidAsync(string presentedKey, CancellationToken cancellationToken);

    /// <summary>Every key, revoked ones included, oldest first.</summary>
    Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Revokes a key by id or display prefix; false when none matched.</summary>
    Task<bool> RevokeAsync(string idOrPrefix, CancellationToken cancellationToken);
}

/// <summary>
/// What a tenant id, a key's name, its rate limit, a credit grant and its note may be, wherever they are given (the admin
/// API, the CLI): one rule everywhere, so a tenant the CLI made can be named through the API, no id is too long for an
/// index, and no balance can overflow.
/// </summary>
public static class AccountRules
{
    /// <summary>The longest tenant id and key name, in UTF-16 characters.</summary>
    public const int MaxNameLength = 100;

    /// <summary>The highest per-key limit of requests a minute.</summary>
    public const int MaxRequestsPerMinute = 1_000_000;

    /// <summary>The highest cap on a tenant's tasks in flight.</summary>
    public const int MaxInFlight = 1_000_000;

    /// <summary>The most credits one grant may add or take away.</summary>
    public const long MaxCreditChange = 1_000_000_000_000;

    /// <summary>The longest note kept with a grant in the ledger.</summary>
    public const int MaxNoteLength = 500;

    /// <summary>Null when <paramref name="value"/> is 1 to <see cref="MaxNameLength"/> printable characters, not all blank; else why not.</summary>
    public static string? NameProblem(string? value) =>
        string.IsNullOrWhiteSpace(value) ? "must not be empty"
        : value.Length > MaxNameLength ? $"must be at most {MaxNameLength} characters, not {value.Length}"
        : value.Any(char.IsControl) ? "must hold printable characters only, no control characters"
        : null;

    /// <summary>Null when <paramref name="note"/> fits the ledger; else why not.</summary>
    public static string? NoteProblem(string? note) =>
        note is null ? null
        : note.Length > MaxNoteLength ? $"must be at most {MaxNoteLength} characters, not {note.Length}"
        : note.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')) ? "must hold no control characters but line breaks and tabs"
        : null;
}
