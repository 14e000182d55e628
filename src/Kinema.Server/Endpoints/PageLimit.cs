using System.Globalization;
using Kinema.Contracts.Responses;
using Kinema.Server.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kinema.Server.Endpoints;

/// <summary>The <c>limit</c> of every list endpoint: 20 when absent, an integer from 1 to 100 when given.</summary>
internal static class PageLimit
{
    public const int Default = 20;
    public const int Max = 100;

    /// <summary>The page size asked for, or the 400 naming <c>limit</c> when it is not one.</summary>
    public static JsonHttpResult<ErrorResponse>? TryRead(string? value, out int size) => TryRead(value, Default, Max, out size);

    /// <summary>The same, for a list whose own default and ceiling differ (the webhook deliveries: 50 and 500).</summary>
    public static JsonHttpResult<ErrorResponse>? TryRead(string? value, int defaultSize, int max, out int size)
    {
        if (value is null)
        {
            size = defaultSize;
            return null;
        }

        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out size) && size >= 1 && size <= max)
        {
            return null;
        }

        return ApiErrors.Create(StatusCodes.Status400BadRequest, $"limit must be an integer from 1 to {max}", "limit");
    }
}
