using System.Globalization;

namespace Kinema.EndToEnd.Operations;

/// <summary>One sample of a Prometheus text exposition: <c>name{label="value",…} 12.5</c>.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(string label, string value) => Labels.TryGetValue(label, out var actual) && actual == value;
}

/// <summary>Reads the Prometheus text format (version 0.0.4), enough for assertions: samples, not metadata.</summary>
internal static class PrometheusText
{
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            string name;
            string rest;
            if (brace >= 0)
            {
                name = line[..brace];
                var end = ReadLabels(line, brace + 1, labels);
                rest = line[(end + 1)..];
            }
            else
            {
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                name = line[..space];
                rest = line[space..];
            }

            // A sample may carry a timestamp after its value.
            var value = rest.Trim().Split(' ')[0];
            samples.Add(new PrometheusSample(name, labels, value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, CultureInfo.InvariantCulture),
            }));
        }

        return samples;
    }

    /// <summary>Reads <c>a="x",b="y\"z"</c> up to the closing brace; returns the brace's index.</summary>
    private static int ReadLabels(string line, int index, Dictionary<string, string> labels)
    {
        while (line[index] != '}')
        {
            var equals = line.IndexOf('=', index);
            var key = line[index..equals].Trim().TrimStart(',').Trim();
            var value = new System.Text.StringBuilder();
            var i = equals + 2; // past ="
            for (; line[i] != '"'; i++)
            {
                if (line[i] == '\\')
                {
                    i++;
                    value.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    value.Append(line[i]);
                }
            }

            labels[key] = value.ToString();
            index = i + 1;
            if (line[index] == ',')
            {
                index++;
            }
        }

        return index;
    }
}
