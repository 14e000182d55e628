using System.Net;
using Kinema.Contracts.Rules;

namespace Kinema.Tests.Fetching;

public sealed class AddressPolicyTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("10.0.0.1")]
    [InlineData("10.255.255.255")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.254")]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.0.9")]
    [InlineData("169.254.169.254")]
    [InlineData("169.254.0.1")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.8")]
    [InlineData("192.0.2.1")]
    [InlineData("192.168.1.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.1")]
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fe80::1")]
    [InlineData("fe80::1%2")]
    [InlineData("febf::1")]
    [InlineData("fec0::1")]
    [InlineData("ff02::1")]
    [InlineData("2001:db8::1")]
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.1.2.3")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::127.0.0.1")]
    [InlineData("64:ff9b::7f00:1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:7f00:1::1")]
    [InlineData("2002:c0a8:101::1")]
    public void Blocked_addresses_are_refused(string address)
    {
        AddressPolicy.IsBlocked(IPAddress.Parse(address)).Should().BeTrue();
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("93.184.216.34")]
    [InlineData("172.32.0.1")]
    [InlineData("172.15.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("192.169.0.1")]
    [InlineData("2606:4700::1111")]
    [InlineData("2a00:1450:4001:80b::200e")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("2002:0808:0808::1")]
    public void Public_addresses_are_allowed(string address)
    {
        AddressPolicy.IsBlocked(IPAddress.Parse(address)).Should().BeFalse();
    }

    [Theory]
    [InlineData("http://127.0.0.1/a.png")]
    [InlineData("http://127.1/a.png")]
    [InlineData("http://2130706433/a.png")]
    [InlineData("http://0x7f000001/a.png")]
    [InlineData("http://0177.0.0.1/a.png")]
    [InlineData("http://0/a.png")]
    [InlineData("http://[::1]/a.png")]
    [InlineData("http://[::ffff:127.0.0.1]/a.png")]
    [InlineData("http://[::ffff:7f00:1]/a.png")]
    [InlineData("http://[fe80::1]/a.png")]
    [InlineData("https://169.254.169.254/latest/meta-data/")]
    [InlineData("http://[fd00:ec2::254]/")]
    [InlineData("http://localhost:8080/a.png")]
    [InlineData("http://api.localhost/a.png")]
    [InlineData("http://metadata.google.internal/computeMetadata/v1/")]
    [InlineData("http://10.0.0.5/a.png")]
    [InlineData("http://192.168.0.1:8443/a.png")]
    [InlineData("http://127\u30020\u30020\u30021:18198/a.png")]
    [InlineData("http://127\uFF0E0\uFF0E0\uFF0E1/a.png")]
    [InlineData("http://10\uFF610\uFF610\uFF615/a.png")]
    public void Literal_private_hosts_are_refused_at_submit(string url)
    {
        var violation = AddressPolicy.CheckImageUrl("image_urls[0]", url, allowPrivateNetworks: false);

        violation.Should().NotBeNull();
        violation!.Param.Should().Be("image_urls[0]");
        violation.Message.Should().StartWith("image_urls[0]").And.Contain("loopback, private or link-local");
        AddressPolicy.CheckImageUrl("image_urls[0]", url, allowPrivateNetworks: true).Should().BeNull();
    }

    [Theory]
    [InlineData("ftp://example.com/a.png")]
    [InlineData("file:///etc/passwd")]
    [InlineData("gopher://example.com/")]
    [InlineData("javascript:alert(1)")]
    [InlineData("data:text/plain;base64,aGVsbG8=")]
    [InlineData("data:image/svg+xml;base64,PHN2Zz4=")]
    [InlineData("data:image/png,notbase64")]
    [InlineData("example.com/a.png")]
    [InlineData("/relative/a.png")]
    public void Other_schemes_are_refused(string url)
    {
        var violation = AddressPolicy.CheckImageUrl("image_urls[1]", url, allowPrivateNetworks: true);

        violation.Should().NotBeNull();
        violation!.Message.Should().Contain("https://").And.Contain("data:image");
    }

    [Theory]
    [InlineData("data:image/png;base64,")]
    [InlineData("data:image/png;base64,@@@@")]
    [InlineData("data:image/jpeg;base64,abc")]
    public void Bad_data_uris_are_refused(string url)
    {
        AddressPolicy.CheckImageUrl("image_urls[0]", url, allowPrivateNetworks: false)!.Message.Should().Contain("base64");
    }

    [Fact]
    public void Oversized_data_uri_is_refused()
    {
        var url = "data:image/png;base64," + new string('A', AddressPolicy.MaxDataUriLength);

        AddressPolicy.CheckImageUrl("image_urls[0]", url, allowPrivateNetworks: false)!.Message.Should()
            .Be("image_urls[0] is a data URI over 28 MiB of base64, more than the 20 MiB of image Kinema accepts; upload the image and pass its URL");
    }

    [Theory]
    [InlineData("https://example.com/a.jpg")]
    [InlineData("http://cdn.example.org:8080/x/y.png?sig=abc")]
    [InlineData("https://8.8.8.8/a.png")]
    [InlineData("https://[2606:4700::1111]/a.png")]
    [InlineData("data:image/png;base64,iVBORw0KGgo=")]
    [InlineData("data:image/webp;base64,UklGRg==")]
    public void Public_urls_and_image_data_uris_are_accepted(string url)
    {
        AddressPolicy.CheckImageUrl("image_urls[0]", url, allowPrivateNetworks: false).Should().BeNull();
    }

    [Fact]
    public void User_info_in_urls_is_refused()
    {
        AddressPolicy.CheckImageUrl("image_urls[0]", "https://user:secret@example.com/a.jpg", false)!.Message.Should().Contain("user name");
    }

    [Fact]
    public void Callback_urls_take_no_data_uris()
    {
        AddressPolicy.CheckCallbackUrl("callback_url", "data:image/png;base64,iVBORw0KGgo=", false).Should().NotBeNull();
        AddressPolicy.CheckCallbackUrl("callback_url", "https://hooks.example.com/k", false).Should().BeNull();
    }

    [Theory]
    [InlineData("https://example.com/a\0.jpg")]
    [InlineData("https://example.com/a\tb.jpg")]
    [InlineData("https://example.com/\r\nX-Injected: 1")]
    [InlineData("https://exa\u007fmple.com/a.jpg")]
    public void Urls_with_raw_control_characters_are_refused_asking_for_percent_encoding(string url)
    {
        var violation = AddressPolicy.CheckCallbackUrl("callback_url", url, allowPrivateNetworks: true);

        violation.Should().NotBeNull();
        violation!.Param.Should().Be("callback_url");
        violation.Message.Should().Contain("control characters").And.Contain("percent-encode");
        AddressPolicy.CheckCallbackUrl("callback_url", "https://example.com/a%00.jpg", allowPrivateNetworks: true).Should().BeNull();
    }
}
