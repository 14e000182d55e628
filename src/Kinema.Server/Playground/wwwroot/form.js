// The create form: its controls (defaults are the contract's: std, 5 s, 16:9), the storyboard and subjects editors,
// image picking, the request it builds, and errors shown next to the field they name.
import { IMAGE_TYPES, LIMITS } from './rules.js';

const $ = (selector, root = document) => root.querySelector(selector);
const number = (text) => (text.trim() === '' ? NaN : Number(text));
const formatCount = (n) => n.toLocaleString('en-US');

export class CreateForm {
  constructor(form) {
    this.form = form;
    this.frames = [null, null]; // data: URIs of the first and last frame
    this.shots = [];
    this.elements = [];
    this.nextKey = 1;
    this.wireCounters();
    this.wireFrames();
    this.wireStoryboard();
    this.wireElements();
  }

  // ---- the request ----------------------------------------------------------------------------------------------

  /** The create body exactly as it will be sent. */
  request() {
    const prompt = $('#prompt').value;
    const negative = $('#negative-prompt').value;
    const multiShot = $('#multi-shot').checked;
    const body = { model: 'kling-v3' };
    if (prompt.trim() !== '') body.prompt = prompt;
    if (negative.trim() !== '') body.negative_prompt = negative;
    body.mode = this.form.elements.mode.value;
    body.duration = number($('#duration').value);
    body.aspect_ratio = this.form.elements.aspect_ratio.value;
    body.audio = $('#audio').checked;
    body.watermark = $('#watermark').checked;
    const images = this.frames[0] ? this.frames.filter(Boolean) : [];
    if (images.length > 0) body.image_urls = images;
    if (multiShot) {
      body.multi_shot = true;
      body.shot_type = this.form.elements.shot_type.value;
      if (body.shot_type === 'customize') {
        body.multi_prompt = this.shots.map((shot, i) => ({ index: i + 1, prompt: shot.prompt, duration: number(shot.duration) }));
      }
    }
    if (this.elements.length > 0) {
      body.elements = this.elements.map((element) => ({
        name: element.name, description: element.description, element_input_urls: element.images,
      }));
    }
    return JSON.parse(JSON.stringify(body)); // drops undefined fields, as the wire would
  }

  /** What only the form can get wrong: the contract has no way to say "last frame without a first". */
  formViolations() {
    return this.frames[1] && !this.frames[0]
      ? [{ param: 'image_urls[0]', message: 'a last frame needs a first frame: add one, or remove the last frame' }]
      : [];
  }

  // ---- errors next to their fields -------------------------------------------------------------------------------

  clearErrors() {
    for (const slot of this.form.querySelectorAll('[data-error-for]')) slot.textContent = '';
    for (const invalid of this.form.querySelectorAll('[aria-invalid="true"]')) invalid.removeAttribute('aria-invalid');
  }

  /**
   * Shows each {param, message} in the error slot of its field: the exact path (multi_prompt[1].duration) or, failing
   * that, the nearest enclosing one (multi_prompt[1], multi_prompt), else under the Generate button.
   */
  showErrors(violations) {
    this.clearErrors();
    let first = null;
    for (const { param, message } of violations) {
      const slot = this.errorSlot(param ?? '');
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      const field = slot.closest('[data-field]');
      field?.closest('details')?.setAttribute('open', '');
      const control = field?.querySelector('input:not([type=radio]):not([type=file]), textarea, select');
      control?.setAttribute('aria-invalid', 'true');
      first ??= control ?? slot;
    }
    if (first && typeof first.focus === 'function' && first.tabIndex >= 0) first.focus({ preventScroll: true });
    first?.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }

  errorSlot(param) {
    let path = param;
    for (;;) {
      const slot = this.form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
      if (slot) return slot;
      const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
      if (cut <= 0) return $('#form-error');
      path = path.slice(0, cut);
    }
  }

  // ---- counters -------------------------------------------------------------------------------------------------

  wireCounters() {
    const pairs = [['#prompt', '#prompt-count'], ['#negative-prompt', '#negative-count']];
    for (const [input, counter] of pairs) {
      const update = () => {
        const length = $(input).value.length;
        $(counter).textContent = `${formatCount(length)} / ${formatCount(LIMITS.maxPromptLength)}`;
        $(counter).classList.toggle('over', length > LIMITS.maxPromptLength);
      };
      $(input).addEventListener('input', update);
      update();
    }
    $('#duration').addEventListener('input', () => this.renderTotal());
  }

  // ---- first and last frame -------------------------------------------------------------------------------------

  wireFrames() {
    for (const zone of this.form.querySelectorAll('.drop')) {
      const slot = Number(zone.dataset.slot);
      const input = $('input[type=file]', zone);
      input.addEventListener('change', () => {
        if (input.files[0]) this.setFrame(slot, input.files[0]);
        input.value = '';
      });
      $('.clear-image', zone).addEventListener('click', () => this.showFrame(slot, null));
      zone.addEventListener('dragover', (event) => {
        event.preventDefault();
        zone.classList.add('dragging');
      });
      zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
      zone.addEventListener('drop', (event) => {
        event.preventDefault();
        zone.classList.remove('dragging');
        const file = event.dataTransfer?.files?.[0];
        if (file) this.setFrame(slot, file);
      });
    }
  }

  async setFrame(slot, file) {
    const param = `image_urls[${slot}]`;
    const refused = refuseFile(file, param);
    if (refused) {
      this.showErrors([{ param, message: refused }]);
      return;
    }
    let image;
    try {
      image = await readImage(file);
    } catch (error) {
      this.showErrors([{ param, message: error.message || `${param}: the upload failed` }]);
      return;
    }
    this.showFrame(slot, image);
  }

  showFrame(slot, dataUri) {
    this.frames[slot] = dataUri;
    const zone = this.form.querySelector(`.drop[data-slot="${slot}"]`);
    const preview = $('.preview', zone);
    preview.hidden = !dataUri;
    if (dataUri) preview.src = dataUri;
    else preview.removeAttribute('src');
    $('.clear-image', zone).hidden = !dataUri;
    $('.drop-hint', zone).hidden = Boolean(dataUri);
    $('[data-error-for]', zone).textContent = '';
  }

  // ---- storyboard -----------------------------------------------------------------------------------------------

  wireStoryboard() {
    const toggle = $('#multi-shot');
    const sync = () => {
      const on = toggle.checked;
      const customize = this.form.elements.shot_type.value === 'customize';
      $('#shot-type').disabled = !on;
      $('#shots-box').hidden = !on || !customize;
      $('#shot-type-hint').textContent = customize
        ? 'You write each shot; their durations add up to the video\'s.'
        : 'The engine splits the prompt into shots itself.';
      if (on && customize && this.shots.length === 0) this.addShot();
      this.renderTotal();
    };
    toggle.addEventListener('change', sync);
    for (const radio of this.form.querySelectorAll('input[name=shot_type]')) radio.addEventListener('change', sync);
    $('#add-shot').addEventListener('click', () => {
      this.addShot();
      $('#shots li:last-child textarea')?.focus();
    });
    sync();
  }

  addShot() {
    if (this.shots.length >= LIMITS.maxShots) return;
    const used = this.shots.reduce((sum, shot) => sum + (number(shot.duration) || 0), 0);
    const remaining = (number($('#duration').value) || 0) - used;
    this.shots.push({ key: this.nextKey++, prompt: '', duration: String(Math.max(1, remaining)) });
    this.renderShots();
  }

  moveShot(index, by) {
    const target = index + by;
    if (target < 0 || target >= this.shots.length) return;
    [this.shots[index], this.shots[target]] = [this.shots[target], this.shots[index]];
    this.renderShots();
    $(`#shots li:nth-child(${target + 1}) [data-move="${by}"]`)?.focus();
  }

  removeShot(index) {
    this.shots.splice(index, 1);
    this.renderShots();
    $('#add-shot').focus();
  }

  renderShots() {
    const list = $('#shots');
    list.replaceChildren(...this.shots.map((shot, i) => {
      const n = i + 1;
      const item = document.createElement('li');
      item.className = 'shot';
      item.dataset.field = `multi_prompt[${i}]`;
      item.innerHTML = `
        <div class="shot-head">
          <span class="shot-number">Shot ${n}</span>
          <div class="shot-tools">
            <button type="button" class="icon-button" data-move="-1" aria-label="Move shot ${n} up">↑</button>
            <button type="button" class="icon-button" data-move="1" aria-label="Move shot ${n} down">↓</button>
            <button type="button" class="icon-button" data-remove aria-label="Remove shot ${n}">✕</button>
          </div>
        </div>
        <div class="shot-body">
          <div class="field" data-field="multi_prompt[${i}].prompt">
            <label for="shot-${shot.key}-prompt">Shot ${n} prompt</label>
            <textarea id="shot-${shot.key}-prompt" rows="2" maxlength="${LIMITS.maxShotPromptLength * 2}"></textarea>
            <p class="field-error" data-error-for="multi_prompt[${i}].prompt"></p>
          </div>
          <div class="field shot-duration" data-field="multi_prompt[${i}].duration">
            <label for="shot-${shot.key}-duration">Shot ${n} duration</label>
            <div class="with-unit"><input id="shot-${shot.key}-duration" type="number" min="1" max="15" step="1" inputmode="numeric"><span aria-hidden="true">s</span></div>
            <p class="field-error" data-error-for="multi_prompt[${i}].duration"></p>
          </div>
        </div>
        <p class="field-error" data-error-for="multi_prompt[${i}]"></p>`;
      const prompt = $('textarea', item);
      const duration = $('input', item);
      prompt.value = shot.prompt;
      duration.value = shot.duration;
      prompt.addEventListener('input', () => { shot.prompt = prompt.value; });
      duration.addEventListener('input', () => { shot.duration = duration.value; this.renderTotal(); });
      $('[data-move="-1"]', item).disabled = i === 0;
      $('[data-move="1"]', item).disabled = i === this.shots.length - 1;
      $('[data-move="-1"]', item).addEventListener('click', () => this.moveShot(i, -1));
      $('[data-move="1"]', item).addEventListener('click', () => this.moveShot(i, 1));
      $('[data-remove]', item).addEventListener('click', () => this.removeShot(i));
      return item;
    }));
    $('#add-shot').disabled = this.shots.length >= LIMITS.maxShots;
    this.renderTotal();
  }

  renderTotal() {
    const total = this.shots.reduce((sum, shot) => sum + (number(shot.duration) || 0), 0);
    const duration = number($('#duration').value);
    const label = $('#shots-total');
    label.textContent = `Total ${total} s of ${Number.isFinite(duration) ? duration : '?'} s · ${this.shots.length} of ${LIMITS.maxShots} shots`;
    label.classList.toggle('ok', total === duration);
    label.classList.toggle('bad', total !== duration);
  }

  // ---- subjects (elements) --------------------------------------------------------------------------------------

  wireElements() {
    $('#add-element').addEventListener('click', () => {
      if (this.elements.length >= LIMITS.maxElements) return;
      this.elements.push({ key: this.nextKey++, name: '', description: '', images: [] });
      this.renderElements();
      $('#elements li:last-child input')?.focus();
    });
  }

  renderElements() {
    $('#elements').replaceChildren(...this.elements.map((element, i) => {
      const n = i + 1;
      const id = `element-${element.key}`;
      const item = document.createElement('li');
      item.className = 'element';
      item.dataset.field = `elements[${i}]`;
      item.innerHTML = `
        <div class="shot-head">
          <span class="shot-number">Subject ${n}</span>
          <button type="button" class="icon-button" data-remove aria-label="Remove subject ${n}">✕</button>
        </div>
        <div class="field" data-field="elements[${i}].name">
          <label for="${id}-name">Name</label>
          <input id="${id}-name" type="text" autocomplete="off" placeholder="element_dog">
          <p class="field-error" data-error-for="elements[${i}].name"></p>
        </div>
        <div class="field" data-field="elements[${i}].description">
          <label for="${id}-description">Description</label>
          <input id="${id}-description" type="text" autocomplete="off" placeholder="a golden retriever with a red collar">
          <p class="field-error" data-error-for="elements[${i}].description"></p>
        </div>
        <div class="field" data-field="elements[${i}].element_input_urls">
          <span class="label">Images <em>2 to 4, the first frontal</em></span>
          <div class="thumbs"></div>
          <input id="${id}-images" class="visually-hidden file-input" type="file" multiple accept="${IMAGE_TYPES.join(',')}">
          <label class="button small" for="${id}-images">Add images</label>
          <p class="field-error" data-error-for="elements[${i}].element_input_urls"></p>
        </div>`;
      const name = $(`#${id}-name`, item);
      const description = $(`#${id}-description`, item);
      name.value = element.name;
      description.value = element.description;
      name.addEventListener('input', () => { element.name = name.value; });
      description.addEventListener('input', () => { element.description = description.value; });
      $('[data-remove]', item).addEventListener('click', () => {
        this.elements.splice(i, 1);
        this.renderElements();
        $('#add-element').focus();
      });
      const thumbs = $('.thumbs', item);
      const showThumbs = () => thumbs.replaceChildren(...element.images.map((uri, j) => {
        const img = document.createElement('img');
        img.src = uri;
        img.alt = `Subject ${n} image ${j + 1}`;
        return img;
      }));
      showThumbs();
      const files = $(`#${id}-images`, item);
      files.addEventListener('change', async () => {
        const param = `elements[${i}].element_input_urls`;
        for (const file of files.files) {
          const refused = refuseFile(file, param);
          if (refused) {
            this.showErrors([{ param, message: refused }]);
            continue;
          }
          if (element.images.length < LIMITS.maxElementImages) element.images.push(await readImage(file));
        }
        files.value = '';
        showThumbs();
      });
      return item;
    }));
    $('#add-element').disabled = this.elements.length >= LIMITS.maxElements;
  }
}

function refuseFile(file, param) {
  if (!IMAGE_TYPES.includes(file.type)) return `${param} must be a PNG, JPEG or WebP image, not ${file.type || 'an unknown type'}`;
  // base64 grows a file by a third; the server caps the whole data: URI.
  if (Math.ceil(file.size / 3) * 4 + 40 > LIMITS.maxDataUriLength) return `${param} is a data URI over 28 MiB; pick a smaller image`;
  return null;
}

/** Uploads an image through the API when the page has an uploader (the server's upload endpoint), else a data: URI. */
let uploader = null;

export function useUploader(upload) {
  uploader = upload;
}

async function readImage(file) {
  if (uploader) {
    const url = await uploader(file);
    if (url) return url;
  }
  return readDataUri(file);
}

function readDataUri(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}
