// Wires the page: the API key (kept in localStorage), the form, the task list and the player.
import { ApiError, KinemaApi } from './api.js';
import { CreateForm, useUploader } from './form.js';
import { validate } from './rules.js';
import { Player } from './player.js';
import { RequestLog, TaskList } from './tasks.js';

const KEY_STORAGE = 'kinema.apiKey';
const $ = (selector) => document.querySelector(selector);

const keyInput = $('#api-key');
const keyStatus = $('#key-status');
let apiKey = localStorage.getItem(KEY_STORAGE) ?? '';

const api = new KinemaApi(() => apiKey);
const requests = new RequestLog();
const player = new Player($('#player'), requests);
const form = new CreateForm($('#create-form'));
// Pictures go through the API's upload endpoint, so a request carries a short URL rather than the image itself.
useUploader((file) => api.uploadImage(file));

/** Shows the tenant's credits when the server keeps them (a balance above zero); silent otherwise. */
async function showBalance() {
  const line = $('#balance');
  try {
    const answer = apiKey ? await api.balance() : null;
    line.hidden = !(answer && answer.balance > 0);
    if (!line.hidden) line.textContent = `Balance: ${answer.balance} credits`;
  } catch {
    line.hidden = true;
  }
}
const tasks = new TaskList({
  api,
  requests,
  list: $('#task-list'),
  more: $('#load-more'),
  filter: $('#status-filter'),
  message: $('#tasks-message'),
  onSelect: (task) => player.show(task),
  onUpdate: (task) => player.update(task),
  onAuthError: (error) => showKeyError(error),
});

function setKeyStatus(text, state) {
  keyStatus.textContent = text;
  keyStatus.dataset.state = state;
}

function showKeyError(error) {
  setKeyStatus(`The server refused this key (${error.status}): ${error.message}`, 'error');
  keyInput.setAttribute('aria-invalid', 'true');
}

async function useKey(value) {
  apiKey = value.trim();
  tasks.clear();
  player.show(null);
  keyInput.removeAttribute('aria-invalid');
  if (!apiKey) {
    localStorage.removeItem(KEY_STORAGE);
    setKeyStatus('Paste an API key to start (serve saved one in .kinema/cli.key).', 'none');
    return;
  }
  localStorage.setItem(KEY_STORAGE, apiKey);
  setKeyStatus('Checking the key…', 'busy');
  await tasks.load(true);
  if (keyStatus.dataset.state === 'busy') setKeyStatus('Key saved in this browser.', 'ok');
  await showBalance();
}

keyInput.value = apiKey;
keyInput.addEventListener('change', () => {
  if (keyInput.value.trim() !== apiKey) useKey(keyInput.value);
});
keyInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter') {
    event.preventDefault();
    if (keyInput.value.trim() !== apiKey) useKey(keyInput.value);
  }
});
$('#forget-key').addEventListener('click', () => {
  keyInput.value = '';
  useKey('');
  setKeyStatus('Key forgotten: removed from this browser.', 'none');
  keyInput.focus();
});
$('#refresh-tasks').addEventListener('click', () => tasks.load(true));

$('#create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const request = form.request();
  const violations = [...form.formViolations(), ...validate(request)];
  if (violations.length > 0) {
    form.showErrors(violations);
    return;
  }
  if (!apiKey) {
    form.showErrors([{ param: '', message: 'Paste your API key at the top first.' }]);
    keyInput.focus();
    return;
  }
  form.clearErrors();
  const button = $('#generate');
  button.disabled = true;
  button.textContent = 'Sending…';
  try {
    const id = await api.create(request);
    showBalance();
    requests.remember(id, request);
    tasks.add(id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showKeyError(error);
      form.showErrors([{ param: '', message: `The server refused the key (401): ${error.message}` }]);
    } else if (error instanceof ApiError) {
      form.showErrors(error.violations);
    } else {
      form.showErrors([{ param: '', message: String(error) }]);
    }
  } finally {
    button.disabled = false;
    button.textContent = 'Generate';
  }
});

if (apiKey) useKey(apiKey);
else setKeyStatus('Paste an API key to start (serve saved one in .kinema/cli.key).', 'none');
