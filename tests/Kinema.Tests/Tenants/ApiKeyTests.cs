using Kinema.Core;
using Kinema.Core.Storage;
using Kinema.Core.Storage.Sqlite;
using Kinema.Core.Tenants;

namespace Kinema.Tests.Tenants;

public sealed class ApiKeyTests
{
    [Fact]
    public void Keys_are_random_prefixed_and_long()
    {
        var keys = Enumerable.Range(0, 100).Select(_ => ApiKeyFormat.NewKey()).ToList();

        keys.Should().OnlyHaveUniqueItems();
        keys.Should().AllSatisfy(key => key.Should().MatchRegex("^kin_[0-9A-Za-z]{40}$"));
    }

    [Fact]
    public void Hash_is_sha256_hex_and_not_the_key()
    {
        var hash = ApiKeyFormat.Hash("kin_abc");

        hash.Should().MatchRegex("^[0-9a-f]{64}$");
        hash.Should().Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("kin_abc"u8)));
        ApiKeyFormat.Hash("kin_abd").Should().NotBe(hash);
    }

    [Fact]
    public async Task Store_keeps_only_the_hash_and_recognises_the_key()
    {
        using var directory = new TempDirectory();
        var paths = new KinemaPaths(directory.Path);
        string key;
        await using (var store = KinemaDataStore.Open(paths))
        {
            var created = await store.Keys.CreateAsync("alice", null, CancellationToken.None);
            key = created.Key;
            created.Record.TenantId.Should().Be("alice");
            (await store.Keys.FindValidAsync(key, CancellationToken.None))!.Id.Should().Be(created.Record.Id);
            (await store.Keys.FindValidAsync(key + "x", CancellationToken.None)).Should().BeNull();
        }

        var bytes = await File.ReadAllBytesAsync(paths.Database);
        System.Text.Encoding.ASCII.GetString(bytes).Should().NotContain(key[4..], "only the hash is stored");
    }

    [Fact]
    public async Task Revoked_key_is_no_longer_valid()
    {
        using var directory = new TempDirectory();
        await using var store = KinemaDataStore.Open(new KinemaPaths(directory.Path));
        var created = await store.Keys.CreateAsync("bob", "team", CancellationToken.None);

        (await store.Keys.RevokeAsync(created.Record.Prefix, CancellationToken.None)).Should().BeTrue();

        (await store.Keys.FindValidAsync(created.Key, CancellationToken.None)).Should().BeNull();
        (await store.Keys.ListAsync(CancellationToken.None)).Single().RevokedAt.Should().NotBeNull();
        (await store.Keys.RevokeAsync(created.Record.Id, CancellationToken.None)).Should().BeFalse();
    }
}
