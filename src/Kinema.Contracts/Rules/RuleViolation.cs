namespace Kinema.Contracts.Rules;

/// <summary>One broken rule: the JSON path of the field and a sentence naming the rule.</summary>
/// <param name="Param">The field path, e.g. <c>multi_prompt[2].duration</c>; empty for the body as a whole.</param>
/// <param name="Message">What is wrong, starting with the field path.</param>
public sealed record RuleViolation(string Param, string Message);
