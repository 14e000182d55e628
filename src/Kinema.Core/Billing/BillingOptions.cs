namespace Kinema.Core.Billing;

/// <summary><c>Kinema:Billing</c>: whether tasks cost credits. Prices live in <see cref="PriceList"/>.</summary>
public sealed class BillingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Kinema:Billing";

    /// <summary>
    /// Off by default: no task carries a cost, no create is refused for want of credits, and the balance and usage
    /// endpoints only show what was granted.
    /// </summary>
    public bool Enabled { get; set; }
}
