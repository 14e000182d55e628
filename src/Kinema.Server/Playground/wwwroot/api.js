// The public API, as any client calls it: the user's key as a bearer token, the contract's error envelope turned
// into an ApiError. Nothing here is private to the page.

/** A failed call: the HTTP status and the envelope's type, param and message (status 0: the server is unreachable). */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message ?? (status === 0 ? 'cannot reach the server' : `the request failed with HTTP ${status}`));
    this.name = 'ApiError';
    this.status = status;
    this.type = error.type ?? null;
    this.param = error.param ?? null;
    this.errors = Array.isArray(error.errors) ? error.errors : null;
  }

  /** Every {param, message} the server named: the list when it sent several, else the one. */
  get violations() {
    return this.errors ?? [{ param: this.param ?? '', message: this.message }];
  }
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
export const isTerminal = (status) => TERMINAL.has(status);

export class KinemaApi {
  /** @param {() => string} getKey the key to send, read at every call */
  constructor(getKey) {
    this.getKey = getKey;
  }

  async call(method, path, { body, signal } = {}) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${this.getKey()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, null);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) throw new ApiError(response.status, json);
    return json;
  }

  /**
   * POST /v1/uploads/images: the image stored by Kinema, answered with its signed URL (valid 72 h), which a create
   * accepts in image_urls. Null when the server has no upload endpoint (an older Kinema): the caller falls back to a
   * data: URI.
   */
  async uploadImage(file, signal) {
    const body = new FormData();
    body.append('file', file, file.name || 'image');
    let response;
    try {
      response = await fetch('/v1/uploads/images', {
        method: 'POST', headers: { Accept: 'application/json', Authorization: `Bearer ${this.getKey()}` }, body, signal,
      });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, null);
    }
    if (response.status === 404 || response.status === 405) return null;
    const json = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, json);
    return json.url;
  }

  /** GET /v1/balance: {tenant_id, balance}, or null when credits are not in use (billing off answers without them). */
  async balance() {
    try {
      return await this.call('GET', '/v1/balance');
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 403)) return null;
      throw error;
    }
  }

  /** POST /v1/videos/generations: the new task's id. */
  async create(request) {
    const answer = await this.call('POST', '/v1/videos/generations', { body: request });
    return answer.data[0].task_id;
  }

  async getTask(id) {
    return (await this.call('GET', `/v1/tasks/${encodeURIComponent(id)}`)).data;
  }

  /** GET /v1/tasks: {data, has_more, next_cursor}, newest first. */
  listTasks({ status, after, limit = 20 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (status) query.set('status', status);
    if (after) query.set('after', after);
    return this.call('GET', `/v1/tasks?${query}`);
  }

  async cancelTask(id) {
    return (await this.call('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`)).data;
  }

  /** DELETE /v1/tasks/{id}: the task and its files, for good. */
  async deleteTask(id) {
    await this.call('DELETE', `/v1/tasks/${encodeURIComponent(id)}`);
  }

  /**
   * Follows GET /v1/tasks/{id}/events until the task ends, calling onTask with every task object. EventSource cannot
   * send an Authorization header, so the stream is read with fetch() and parsed here; a dropped stream is resumed
   * with Last-Event-ID after a short pause.
   */
  async watchTask(id, onTask, signal) {
    let lastEventId = null;
    let failures = 0;
    while (!signal?.aborted) {
      let ended = false;
      try {
        const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${this.getKey()}` };
        if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
        const response = await fetch(`/v1/tasks/${encodeURIComponent(id)}/events`, { headers, signal, cache: 'no-store' });
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          throw new ApiError(response.status, body);
        }
        for await (const event of readEvents(response.body, signal)) {
          failures = 0;
          if (event.id !== null) lastEventId = event.id;
          if (event.type !== 'task') continue; // keepalive
          const task = JSON.parse(event.data);
          onTask(task);
          if (isTerminal(task.status)) ended = true;
        }
      } catch (error) {
        if (error.name === 'AbortError' || signal?.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
        failures++;
      }
      if (ended) return;
      if (failures > 8) throw new ApiError(0, null);
      await pause(Math.min(500 * 2 ** failures, 5000), signal);
    }
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** A text/event-stream body as {type, data, id} events, by the WHATWG parsing rules (fields, comments, CRLF). */
export async function* readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const abort = () => reader.cancel().catch(() => {});
  signal?.addEventListener('abort', abort, { once: true });
  let buffer = '';
  let data = [];
  let type = '';
  let id = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        if (buffer[newline] === '\r' && newline === buffer.length - 1) break; // maybe half of a CRLF: wait
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) yield { type: type || 'message', data: data.join('\n'), id };
          data = [];
          type = '';
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') type = value;
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
    }
  } finally {
    signal?.removeEventListener('abort', abort);
    try {
      reader.releaseLock();
    } catch {
      // a read still pending after an abort: the stream is cancelled anyway
    }
  }
}
