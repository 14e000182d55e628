// The task list: pages with the cursor, filters by status, cancels, deletes, and keeps every unfinished task live — over the
// event stream for a few, by polling for the rest (a browser gives one origin only six HTTP/1.1 connections).
import { ApiError, isTerminal } from './api.js';
import { describeEngine, formatSeconds } from './player.js';

const MAX_STREAMS = 3;
const POLL_MS = 2000;
const REQUESTS_KEY = 'kinema.playground.requests';

/** The bodies this browser sent, by task id: the task object does not carry its request (for "copy as curl"). */
export class RequestLog {
  constructor() {
    this.exact = new Map();
    try {
      this.saved = JSON.parse(localStorage.getItem(REQUESTS_KEY) ?? '{}');
    } catch {
      this.saved = {};
    }
  }

  remember(id, request) {
    this.exact.set(id, request);
    // Images are kept out of localStorage (its quota is a few MiB); the exact body stays in memory.
    const light = JSON.parse(JSON.stringify(request, (key, value) =>
      typeof value === 'string' && value.startsWith('data:') ? `${value.slice(0, 40)}…(${Math.round(value.length / 1024)} KiB)` : value));
    this.saved[id] = light;
    const ids = Object.keys(this.saved);
    for (const old of ids.slice(0, Math.max(0, ids.length - 200))) delete this.saved[old];
    try {
      localStorage.setItem(REQUESTS_KEY, JSON.stringify(this.saved));
    } catch {
      // quota: the in-memory copy still serves this session
    }
  }

  find(id) {
    return this.exact.get(id) ?? this.saved[id] ?? null;
  }

  isExact(id) {
    return this.exact.has(id);
  }
}

export class TaskList {
  constructor({ api, requests, list, more, filter, message, onSelect, onUpdate, onAuthError }) {
    Object.assign(this, { api, requests, list, more, filter, message, onSelect, onUpdate, onAuthError });
    this.tasks = new Map();
    this.order = [];
    this.cursor = null;
    this.selected = null;
    this.streams = new Map();
    this.poller = null;
    this.generation = 0;
    more.addEventListener('click', () => this.load(false));
    filter.addEventListener('change', () => this.load(true));
  }

  /** Loads the first page (reset) or the next one. */
  async load(reset = true) {
    const generation = reset ? ++this.generation : this.generation;
    if (reset) this.message.textContent = 'Loading…';
    try {
      const page = await this.api.listTasks({ status: this.filter.value || undefined, after: reset ? undefined : this.cursor });
      if (generation !== this.generation) return;
      if (reset) {
        this.order = [];
        this.stopAll();
      }
      for (const task of page.data) {
        this.tasks.set(task.id, task);
        if (!this.order.includes(task.id)) this.order.push(task.id);
      }
      this.cursor = page.next_cursor ?? null;
      this.more.hidden = !page.has_more;
      this.message.textContent = this.order.length === 0 ? 'No tasks yet.' : '';
      this.render();
      this.follow();
    } catch (error) {
      this.fail(error);
    }
  }

  clear() {
    this.stopAll();
    this.tasks.clear();
    this.order = [];
    this.cursor = null;
    this.more.hidden = true;
    this.list.replaceChildren();
  }

  /** A task just created here: shown at once, then followed live. */
  add(id) {
    this.tasks.set(id, { id, status: 'pending', progress: 0 });
    this.order = [id, ...this.order.filter((other) => other !== id)];
    this.message.textContent = '';
    this.render();
    this.select(id);
    this.follow();
  }

  select(id) {
    this.selected = id;
    this.render();
    this.onSelect(this.tasks.get(id));
  }

  update(task) {
    const known = this.tasks.get(task.id);
    if (known && isTerminal(known.status) && !isTerminal(task.status)) return; // a late poll answer: stale
    this.tasks.set(task.id, task);
    this.renderItem(task.id);
    if (task.id === this.selected) this.onUpdate(task);
  }

  async cancel(id) {
    try {
      this.update(await this.api.cancelTask(id));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        this.update(await this.api.getTask(id)); // it ended meanwhile: show how
      } else {
        this.fail(error);
      }
    }
  }

  /** Deletes a finished task and its video for good, once the user confirms; a task already gone just leaves the list. */
  async remove(id) {
    if (!window.confirm(`Delete ${id} and its video for good?`)) return;
    try {
      await this.api.deleteTask(id);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        this.fail(error);
        return;
      }
    }
    this.tasks.delete(id);
    this.order = this.order.filter((other) => other !== id);
    this.list.querySelector(`[data-task-id="${CSS.escape(id)}"]`)?.remove();
    if (this.order.length === 0) this.message.textContent = 'No tasks yet.';
    if (this.selected === id) {
      this.selected = null;
      this.onSelect(null);
    }
  }

  // ---- live updates ---------------------------------------------------------------------------------------------

  follow() {
    const running = this.order.filter((id) => !isTerminal(this.tasks.get(id)?.status));
    for (const id of running) {
      if (this.streams.size >= MAX_STREAMS) break;
      if (this.streams.has(id)) continue;
      const controller = new AbortController();
      this.streams.set(id, controller);
      this.api.watchTask(id, (task) => this.update(task), controller.signal)
        .catch((error) => this.fail(error))
        .finally(() => {
          if (this.streams.get(id) === controller) this.streams.delete(id);
          this.follow();
        });
    }
    const polled = running.filter((id) => !this.streams.has(id));
    if (polled.length > 0 && !this.poller) {
      this.poller = setTimeout(async () => {
        this.poller = null;
        for (const id of this.order.filter((other) => !isTerminal(this.tasks.get(other)?.status) && !this.streams.has(other))) {
          try {
            this.update(await this.api.getTask(id));
          } catch (error) {
            this.fail(error);
            return;
          }
        }
        this.follow();
      }, POLL_MS);
    }
  }

  stopAll() {
    for (const controller of this.streams.values()) controller.abort();
    this.streams.clear();
    clearTimeout(this.poller);
    this.poller = null;
  }

  fail(error) {
    if (error instanceof ApiError && error.status === 401) {
      this.stopAll();
      this.onAuthError(error);
      return;
    }
    this.message.textContent = error.message ?? String(error);
  }

  // ---- rendering ------------------------------------------------------------------------------------------------

  render() {
    this.list.replaceChildren(...this.order.map((id) => this.item(this.tasks.get(id))));
  }

  renderItem(id) {
    const old = this.list.querySelector(`[data-task-id="${CSS.escape(id)}"]`);
    const fresh = this.item(this.tasks.get(id));
    if (old) {
      const focused = old.contains(document.activeElement) ? document.activeElement.dataset.role : null;
      old.replaceWith(fresh);
      if (focused) fresh.querySelector(`[data-role="${focused}"]`)?.focus();
    } else {
      this.render();
    }
  }

  item(task) {
    const request = this.requests.find(task.id);
    const li = document.createElement('li');
    li.className = 'task';
    li.dataset.taskId = task.id;
    li.dataset.status = task.status;
    li.classList.toggle('selected', task.id === this.selected);
    const title = request?.prompt ?? (request?.multi_prompt ? request.multi_prompt.map((shot) => shot.prompt).join(' / ') : null);
    const facts = [];
    if (request) facts.push(`${request.mode ?? 'std'} · ${request.duration ?? 5} s · ${request.aspect_ratio ?? '16:9'}`);
    if (task.engine) facts.push(describeEngine(task.engine));
    if (!isTerminal(task.status) && task.estimated_time != null) facts.push(`est. ${formatSeconds(task.estimated_time)}`);
    if (task.status === 'completed' && task.actual_time != null) facts.push(`took ${formatSeconds(task.actual_time)}`);
    if (task.cost != null) facts.push(`cost ${task.cost}`);
    li.innerHTML = `
      <button type="button" class="task-open" data-role="open">
        <span class="task-top"><span class="badge"></span><code class="task-id"></code></span>
        <span class="task-title"></span>
        <span class="task-facts"></span>
        <span class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><span></span></span>
        <span class="task-error"></span>
      </button>`;
    li.querySelector('.badge').textContent = task.status;
    li.querySelector('.task-id').textContent = task.id;
    const heading = li.querySelector('.task-title');
    heading.textContent = title ?? `${task.model ?? 'kling-v3'} task`;
    heading.classList.toggle('unknown', !title); // created elsewhere: the task object does not carry its prompt
    li.querySelector('.task-facts').textContent = facts.join(' · ');
    const bar = li.querySelector('.bar');
    const progress = task.status === 'completed' ? 100 : task.progress ?? 0;
    bar.setAttribute('aria-valuenow', String(progress));
    bar.setAttribute('aria-label', `${task.id} progress`);
    bar.firstElementChild.style.width = `${progress}%`;
    bar.hidden = isTerminal(task.status) && task.status !== 'completed';
    li.querySelector('.task-error').textContent = task.error ? `${task.error.code}: ${task.error.message}` : '';
    li.querySelector('.task-open').addEventListener('click', () => this.select(task.id));
    li.append(isTerminal(task.status)
      ? taskButton('delete', 'Delete', task.id, () => this.remove(task.id))
      : taskButton('cancel', 'Cancel', task.id, () => this.cancel(task.id)));
    return li;
  }
}

/** A small button acting on one task: its role names it for tests and its label for screen readers. */
function taskButton(role, label, taskId, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = `button ghost small task-${role}`;
  button.dataset.role = role;
  button.textContent = label;
  button.setAttribute('aria-label', `${label} ${taskId}`);
  button.addEventListener('click', onClick);
  return button;
}
