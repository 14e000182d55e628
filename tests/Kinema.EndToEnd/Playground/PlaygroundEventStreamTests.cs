using System.Text.Json;

namespace Kinema.EndToEnd.Playground;

/// <summary>
/// The page reads <c>/v1/tasks/{id}/events</c> with fetch() (EventSource cannot send the key), so it parses
/// <c>text/event-stream</c> itself and resumes a dropped stream with <c>Last-Event-ID</c>: both checked in the browser.
/// </summary>
[Collection(PlaygroundCollection.Name)]
public sealed class PlaygroundEventStreamTests(PlaygroundFixture fixture)
{
    [Fact]
    public async Task The_stream_parser_handles_split_lines_comments_and_multi_line_data()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);

        var events = await playground.Page.EvaluateAsync<JsonElement>("""
            async () => {
              const { readEvents } = await import('/playground/api.js');
              const bytes = new TextEncoder();
              const chunks = [': a comment\r\nevent: task\r', '\nid: 7\ndata: {"a":\ndata: 1}\n', '\nevent: keepalive\ndata: {}\n\ndata: unterminated'];
              const body = new ReadableStream({ start(c) { for (const chunk of chunks) c.enqueue(bytes.encode(chunk)); c.close(); } });
              const events = [];
              for await (const event of readEvents(body)) events.push(event);
              return events;
            }
            """);

        events.GetArrayLength().Should().Be(2, "an event is dispatched only at its blank line");
        events[0].GetProperty("type").GetString().Should().Be("task");
        events[0].GetProperty("id").GetString().Should().Be("7");
        events[0].GetProperty("data").GetString().Should().Be("{\"a\":\n1}");
        events[1].GetProperty("type").GetString().Should().Be("keepalive");
        events[1].GetProperty("id").GetString().Should().Be("7", "the last event id carries over");
    }

    [Fact]
    public async Task A_dropped_stream_is_resumed_with_Last_Event_ID_and_the_key()
    {
        await using var playground = await PlaygroundPage.OpenAsync(fixture);

        var outcome = await playground.Page.EvaluateAsync<JsonElement>("""
            async () => {
              const { KinemaApi } = await import('/playground/api.js');
              const bytes = new TextEncoder();
              const answers = [
                'event: task\nid: 5\ndata: {"id":"task_x","status":"processing","progress":40}\n\n',
                'event: task\nid: 9\ndata: {"id":"task_x","status":"completed","progress":100}\n\n',
              ];
              const calls = [];
              const realFetch = window.fetch;
              window.fetch = async (url, init) => {
                calls.push({ url, lastEventId: init.headers['Last-Event-ID'] ?? null, authorization: init.headers.Authorization });
                const text = answers[calls.length - 1];
                const body = new ReadableStream({ start(c) { c.enqueue(bytes.encode(text)); c.close(); } });
                return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
              };
              const seen = [];
              try {
                await new KinemaApi(() => 'kin_test').watchTask('task_x', (task) => seen.push(`${task.status}:${task.progress}`));
              } finally {
                window.fetch = realFetch;
              }
              return { calls, seen };
            }
            """);

        var calls = outcome.GetProperty("calls");
        calls.GetArrayLength().Should().Be(2, "the first stream ended before the task did, so the page reconnected once");
        calls[0].GetProperty("url").GetString().Should().Be("/v1/tasks/task_x/events");
        calls[0].GetProperty("lastEventId").ValueKind.Should().Be(JsonValueKind.Null);
        calls[1].GetProperty("lastEventId").GetString().Should().Be("5");
        calls[1].GetProperty("authorization").GetString().Should().Be("Bearer kin_test");
        outcome.GetProperty("seen").EnumerateArray().Select(s => s.GetString()).Should().Equal("processing:40", "completed:100");
    }
}
