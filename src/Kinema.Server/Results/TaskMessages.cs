using System.Collections.Frozen;
using System.Diagnostics;
using Kinema.Contracts.Requests;
using Kinema.Core.Tasks;

namespace Kinema.Server.Results;

/// <summary>The languages <c>GET /v1/tasks/{task_id}?language=</c> takes for the response's human-readable messages.</summary>
internal enum MessageLanguage
{
    English,
    Chinese,
    Korean,
    Japanese,
}

/// <summary>
/// The task endpoint's messages in the contract's four languages. A failure's message leads with a sentence for its code in
/// the language asked for and keeps the original detail after it: that detail names fields, exit codes and what the upstream
/// said, which no catalogue can translate and which a developer still needs.
/// </summary>
internal static class TaskMessages
{
    private static readonly FrozenDictionary<string, Localized> FailureSummaries = new Dictionary<string, Localized>(StringComparer.Ordinal)
    {
        ["render_failed"] = new("视频渲染失败", "동영상을 렌더링하지 못했습니다", "動画をレンダリングできませんでした"),
        ["image_fetch_failed"] = new("无法使用输入的图片", "입력 이미지를 사용할 수 없습니다", "入力画像を使用できませんでした"),
        ["engine_unavailable"] = new("此服务器上没有该任务所需的引擎", "이 서버에는 이 작업에 필요한 엔진이 없습니다", "このサーバーにはタスクに必要なエンジンがありません"),
        ["storage_unavailable"] = new("无法保存生成结果", "결과를 저장하지 못했습니다", "結果を保存できませんでした"),
        ["internal_error"] = new("内部错误导致任务中止", "내부 오류로 작업이 중단되었습니다", "内部エラーによりタスクが停止しました"),
        ["attempts_exhausted"] = new("任务多次中断，已放弃", "작업이 여러 번 중단되어 포기되었습니다", "タスクが何度も中断されたため、中止しました"),
        ["deadline_exceeded"] = new("上游服务未能按时完成任务", "업스트림 서비스가 기한 내에 작업을 완료하지 못했습니다", "上流サービスが期限内にタスクを完了しませんでした"),
        ["cancelled_upstream"] = new("任务已在上游服务被取消", "업스트림 서비스에서 작업이 취소되었습니다", "タスクは上流サービスでキャンセルされました"),
        ["content_policy"] = new("请求未通过内容安全审核", "요청이 콘텐츠 정책에 의해 거부되었습니다", "リクエストはコンテンツポリシーにより拒否されました"),
        ["upstream_failed"] = new("上游服务未能完成任务", "업스트림 서비스에서 작업이 실패했습니다", "上流サービスでタスクが失敗しました"),
        ["upstream_unavailable"] = new("没有可以接收该任务的引擎", "작업을 받을 수 있는 엔진이 없습니다", "タスクを引き受けられるエンジンがありません"),
        ["upstream_unreachable"] = new("无法连接上游服务", "업스트림 서비스에 연결할 수 없습니다", "上流サービスに接続できませんでした"),
        ["upstream_timeout"] = new("上游服务响应超时", "업스트림 서비스가 제시간에 응답하지 않았습니다", "上流サービスが時間内に応答しませんでした"),
        ["upstream_error"] = new("上游服务出错", "업스트림 서비스에서 오류가 발생했습니다", "上流サービスでエラーが発生しました"),
        ["upstream_auth"] = new("上游服务拒绝了服务器的凭证", "업스트림 서비스가 서버의 자격 증명을 거부했습니다", "上流サービスがサーバーの認証情報を拒否しました"),
        ["upstream_forbidden"] = new("上游服务拒绝了该账户的请求", "업스트림 서비스가 이 계정의 요청을 거부했습니다", "上流サービスがこのアカウントのリクエストを拒否しました"),
        ["insufficient_balance"] = new("上游账户余额不足", "업스트림 계정의 잔액이 부족합니다", "上流アカウントの残高が不足しています"),
        ["ip_not_allowed"] = new("上游服务不允许服务器的 IP 地址", "업스트림 서비스가 서버의 IP 주소를 허용하지 않습니다", "上流サービスがサーバーの IP アドレスを許可していません"),
        ["invalid_parameters"] = new("上游服务拒绝了请求参数", "업스트림 서비스가 요청 매개변수를 거부했습니다", "上流サービスがリクエストのパラメーターを拒否しました"),
        ["rate_limited"] = new("上游服务的请求频率已达上限", "업스트림 서비스의 요청 한도에 도달했습니다", "上流サービスのレート制限に達しました"),
        ["upstream_not_found"] = new("上游服务找不到该任务", "업스트림 서비스에서 작업을 찾을 수 없습니다", "上流サービスにタスクが見つかりません"),
        ["upstream_bad_answer"] = new("上游服务的应答无法识别", "업스트림 서비스의 응답을 해석할 수 없습니다", "上流サービスの応答を解釈できませんでした"),
        ["upstream_no_result"] = new("上游服务报告成功，但没有返回视频", "업스트림 서비스가 성공을 보고했지만 동영상이 없습니다", "上流サービスは成功を報告しましたが、動画がありません"),
        ["upstream_bad_result"] = new("上游服务返回的结果不是可播放的视频", "업스트림 서비스의 결과가 재생 가능한 동영상이 아닙니다", "上流サービスの結果は再生可能な動画ではありません"),
        ["archive_failed"] = new("无法下载并保存上游生成的视频", "업스트림이 만든 동영상을 내려받아 보관하지 못했습니다", "上流が生成した動画をダウンロードして保存できませんでした"),
        ["element_refused"] = new("上游服务拒绝了请求中的主体元素", "업스트림 서비스가 요청의 요소를 거부했습니다", "上流サービスがリクエストの要素を拒否しました"),
        ["result_url_blocked"] = new("上游结果的地址不允许访问", "업스트림 결과의 주소는 허용되지 않습니다", "上流の結果のアドレスは許可されていません"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The failure codes that have a sentence of their own; any other code gets the generic one.</summary>
    public static IEnumerable<string> CataloguedCodes => FailureSummaries.Keys;

    private static readonly Localized TaskFailed = new("任务失败", "작업이 실패했습니다", "タスクが失敗しました");

    /// <summary>Reads the query parameter; absent means English, and the contract's names match in any case.</summary>
    public static bool TryParse(string? wire, out MessageLanguage language)
    {
        language = MessageLanguage.English;
        if (wire is null)
        {
            return true;
        }

        // MessageLanguages.All lists the wire names in the order of MessageLanguage.
        for (var index = 0; index < MessageLanguages.All.Count; index++)
        {
            if (string.Equals(MessageLanguages.All[index], wire, StringComparison.OrdinalIgnoreCase))
            {
                language = (MessageLanguage)index;
                return true;
            }
        }

        return false;
    }

    /// <summary>The failure's message as a client reading <paramref name="language"/> sees it.</summary>
    public static string Failure(TaskFailure failure, MessageLanguage language)
    {
        if (language == MessageLanguage.English)
        {
            return failure.Message;
        }

        var summary = (FailureSummaries.GetValueOrDefault(failure.Code) ?? TaskFailed).In(language);
        return failure.Message.Length == 0 ? summary : summary + Separator(language) + failure.Message;
    }

    /// <summary>The 404 of a task this key cannot see (the id is already cut to a printable length).</summary>
    public static string TaskNotFound(string shownId, MessageLanguage language) => language switch
    {
        MessageLanguage.Chinese => $"此 API 密钥下没有 ID 为 '{shownId}' 的任务",
        MessageLanguage.Korean => $"이 API 키로 ID가 '{shownId}'인 작업이 없습니다",
        MessageLanguage.Japanese => $"この API キーには ID が '{shownId}' のタスクはありません",
        _ => $"no task with id '{shownId}' exists for this API key",
    };

    // Chinese and Japanese set a full-width colon without a space; Korean uses the Latin colon and a space.
    private static string Separator(MessageLanguage language) => language == MessageLanguage.Korean ? ": " : "：";

    private sealed record Localized(string Chinese, string Korean, string Japanese)
    {
        public string In(MessageLanguage language) => language switch
        {
            MessageLanguage.Chinese => Chinese,
            MessageLanguage.Korean => Korean,
            MessageLanguage.Japanese => Japanese,
            _ => throw new UnreachableException($"English has no catalogue entry: {language}"),
        };
    }
}
