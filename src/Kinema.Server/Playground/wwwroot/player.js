// The selected task: its live state, and when done the video with its poster, the file's facts, Download,
// "copy as curl" of the exact request, and the raw task JSON.
// Engines that render a stand-in rather than the model's video: always labelled as such.
const PREVIEW_ENGINES = new Set(['animatic']);

export const describeEngine = (engine) => (PREVIEW_ENGINES.has(engine) ? `${engine} (preview)` : engine);

export function formatSeconds(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A POSIX-shell single-quoted word. */
const shellQuote = (text) => `'${text.replaceAll("'", "'\\''")}'`;

/** The create call as curl; the key is left to $KINEMA_API_KEY so a copied command never carries it. */
export function curlFor(request, origin = location.origin) {
  return [
    `curl -s ${origin}/v1/videos/generations`,
    '  -H "Authorization: Bearer $KINEMA_API_KEY"',
    '  -H "Content-Type: application/json"',
    `  -d ${shellQuote(JSON.stringify(request))}`,
  ].join(' \\\n');
}

export class Player {
  constructor(root, requests) {
    this.root = root;
    this.requests = requests;
    this.taskId = null;
    this.shownVideoFor = null;
  }

  show(task) {
    this.taskId = task?.id ?? null;
    this.shownVideoFor = null;
    this.render(task);
  }

  update(task) {
    if (task.id !== this.taskId) return;
    this.render(task);
  }

  render(task) {
    if (!task) {
      this.root.innerHTML = '<p class="empty">Generate a video, or pick a task from the list.</p>';
      return;
    }
    // A completed task's URL is signed afresh on every read: keep the playing video rather than reload it.
    if (task.status === 'completed' && this.shownVideoFor === task.id) {
      this.root.querySelector('.task-json pre').textContent = JSON.stringify(task, null, 2);
      return;
    }

    const request = this.requests.find(task.id);
    this.root.replaceChildren();
    const head = element('div', 'player-head');
    head.append(element('span', 'badge', task.status), element('code', 'task-id', task.id));
    if (task.engine) {
      const engine = element('span', PREVIEW_ENGINES.has(task.engine) ? 'engine preview' : 'engine', describeEngine(task.engine));
      engine.title = PREVIEW_ENGINES.has(task.engine)
        ? 'A preview: Kinema\'s built-in engine renders the request\'s timing, shots and frames, not the model\'s video.'
        : 'The engine that made this video.';
      head.append(engine);
    }
    head.dataset.status = task.status;
    this.root.append(head);

    if (task.status === 'completed' && task.result?.videos?.[0]) {
      this.renderVideo(task, task.result.videos[0]);
      this.shownVideoFor = task.id;
    } else if (task.status === 'failed') {
      const box = element('div', 'failure');
      box.append(element('strong', '', 'The task failed'), element('p', '', task.error ? `${task.error.message} (${task.error.code})` : 'No reason was given.'));
      this.root.append(box);
    } else if (task.status === 'cancelled') {
      this.root.append(element('p', 'stage', 'Cancelled.'));
    } else {
      const stage = element('div', 'stage');
      const progress = task.progress ?? 0;
      const bar = element('div', 'bar big');
      bar.setAttribute('role', 'progressbar');
      bar.setAttribute('aria-valuemin', '0');
      bar.setAttribute('aria-valuemax', '100');
      bar.setAttribute('aria-valuenow', String(progress));
      bar.setAttribute('aria-label', 'Progress');
      const fill = element('span');
      fill.style.width = `${progress}%`;
      bar.append(fill);
      const estimate = task.estimated_time != null ? ` · estimated ${formatSeconds(task.estimated_time)}` : '';
      stage.append(element('p', 'stage-text', `${task.status === 'pending' ? 'Queued' : 'Rendering'} · ${progress}%${estimate}`), bar);
      this.root.append(stage);
    }

    // A server that keeps credits prices each task; one that does not sends no cost.
    if (task.cost != null) this.root.append(element('p', 'cost', `Cost: ${task.cost}`));
    this.renderTools(task, request);
  }

  renderVideo(task, video) {
    const url = video.url[0];
    const player = document.createElement('video');
    player.controls = true;
    player.preload = 'metadata';
    player.playsInline = true;
    if (video.thumbnail_url) player.poster = video.thumbnail_url;
    player.src = url;
    player.setAttribute('aria-label', `Video of ${task.id}`);
    const frame = element('div', 'video-frame');
    frame.append(player);
    this.root.append(frame);

    const facts = element('dl', 'facts');
    const fact = (term, value) => {
      const pair = element('div');
      pair.append(element('dt', '', term), value);
      facts.append(pair);
    };
    const add = (term, text) => fact(term, element('dd', '', text));
    if (video.width) add('Size', `${video.width}×${video.height}`);
    if (video.duration != null) add('Duration', `${Number(video.duration).toFixed(1)} s`);
    add('Audio', video.has_audio ? 'yes' : 'no');
    const fileSize = element('dd', 'file-size', '…');
    fact('File', fileSize);
    if (task.actual_time != null) add('Took', formatSeconds(task.actual_time));
    this.root.append(facts);
    fetch(url, { method: 'HEAD' })
      .then((response) => {
        const length = Number(response.headers.get('Content-Length'));
        fileSize.textContent = response.ok && length > 0 ? formatBytes(length) : 'unknown';
      })
      .catch(() => { fileSize.textContent = 'unknown'; });

    const download = element('a', 'button primary', 'Download');
    download.href = url;
    download.download = `${task.id}.mp4`;
    const links = element('div', 'actions');
    links.append(download, element('span', 'hint', `link expires ${new Date(video.expires_at * 1000).toLocaleString()}`));
    this.root.append(links);
  }

  renderTools(task, request) {
    const tools = element('div', 'tools');
    if (request) {
      const copy = element('button', 'button small', 'Copy as curl');
      copy.type = 'button';
      const note = element('span', 'hint copy-note');
      note.setAttribute('role', 'status');
      const curl = curlFor(request);
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(curl);
          note.textContent = 'Copied. Set KINEMA_API_KEY first.';
        } catch {
          note.textContent = 'Copy failed: select the command below.';
        }
      });
      const details = element('details', 'raw curl');
      details.append(element('summary', '', this.requests.isExact(task.id) ? 'Request as curl' : 'Request as curl (images shortened)'), element('pre', '', curl));
      tools.append(copy, note, details);
    }
    const raw = element('details', 'raw task-json');
    raw.append(element('summary', '', 'Task JSON'), element('pre', '', JSON.stringify(task, null, 2)));
    tools.append(raw);
    this.root.append(tools);
  }
}

function element(tag, className = '', text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

