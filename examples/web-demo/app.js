// The web demo: load a model (URL, Hugging Face id, file, the cache or the demo model), then chat
// with it. The engine runs in a worker (WasmChord.init's browser default), so the page keeps
// painting while it generates. State for people is on screen; `document.body.dataset.state` and
// the data attributes of the last reply are for the end-to-end tests.
import { WasmChord } from '../../dist/web/wasm-chord.js';

const $ = (id) => document.getElementById(id);
let runtime;
let model;
let loadController;
let generation;
/** The conversation so far, for the chat template. */
const history = [];

const setState = (state) => (document.body.dataset.state = state);
const showError = (err) => {
  $('error').textContent = err ? `${err.code ? `[${err.code}] ` : ''}${err.message ?? err}` : '';
  if (err) setState('error');
};
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function refreshCache() {
  const list = $('cached');
  list.replaceChildren();
  let entries = [];
  try {
    entries = await (await WasmChord.modelCache()).list();
  } catch (err) {
    list.textContent = `The model store is unavailable here: ${err.message}`;
    return;
  }
  if (entries.length === 0) list.textContent = 'None yet: models you load by URL or Hugging Face id are kept here.';
  for (const entry of entries) {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = entry.source;
    const size = document.createElement('span');
    size.className = 'size';
    size.textContent = mib(entry.bytes);
    const load = document.createElement('button');
    load.textContent = 'Load';
    load.onclick = () => loadModel(entry.source);
    const remove = document.createElement('button');
    remove.textContent = 'Delete';
    remove.onclick = async () => {
      await (await WasmChord.modelCache()).delete(entry.source);
      await refreshCache();
    };
    item.append(name, size, load, remove);
    list.append(item);
  }
}

function showProgress(what, p) {
  const bar = $('progress');
  bar.hidden = false;
  bar.value = p.totalBytes ? p.loadedBytes / p.totalBytes : 0;
  let text = `${what}: ${mib(p.loadedBytes)}${p.totalBytes ? ` of ${mib(p.totalBytes)}` : ''}`;
  if (p.bytesPerSecond) text += `, ${mib(p.bytesPerSecond)}/s`;
  if (Number.isFinite(p.etaSeconds)) text += `, ${Math.ceil(p.etaSeconds)} s left`;
  $('progress-text').textContent = text;
}

async function loadModel(source) {
  showError(undefined);
  setState('loading');
  $('send').disabled = true;
  $('cancel-load').disabled = false;
  loadController = new AbortController();
  try {
    await model?.dispose();
    model = undefined;
    const backend = $('backend').value;
    if (!runtime || runtime.options.backend !== backend) {
      await runtime?.dispose();
      runtime = await WasmChord.init({ backend, gpuEnabled: true });
    }
    model = await runtime.loadModel(source, {
      // Kept: stored (QUOTA_EXCEEDED when it does not fit); not kept: read with range requests.
      ...(typeof source === 'string' && { cache: $('keep').checked }),
      signal: loadController.signal,
      onDownloadProgress: (p) => showProgress('downloading', p),
      onProgress: (p) => showProgress('loading weights', p),
    });
    history.length = 0;
    $('messages').replaceChildren();
    $('status').textContent = `${model.info.name ?? model.info.architecture} · ${model.info.backend}`;
    $('send').disabled = false;
    setState('ready');
  } catch (err) {
    showError(err);
  } finally {
    $('cancel-load').disabled = true;
    $('progress').hidden = true;
    await refreshCache();
  }
}

function addMessage(role, text) {
  const div = document.createElement('div');
  div.className = `message ${role}`;
  div.textContent = text;
  $('messages').append(div);
  return div;
}

async function send() {
  const text = $('prompt').value;
  const raw = $('raw').checked;
  showError(undefined);
  setState('generating');
  $('send').disabled = true;
  $('stop').disabled = false;
  addMessage('user', text);
  const reply = addMessage('assistant', '');
  generation = new AbortController();
  const options = { temperature: Number($('temperature').value), maxTokens: Number($('max-tokens').value), signal: generation.signal };
  const prompt = raw ? text : [...history, { role: 'user', content: text }];
  const tokens = [];
  const started = performance.now();
  try {
    const stream = model.generateStream(prompt, options);
    let step;
    while (!(step = await stream.next()).done) {
      reply.textContent += step.value.text;
      if (step.value.token !== undefined) tokens.push(step.value.token);
    }
    const { timings, stopReason } = step.value;
    if (!raw) history.push({ role: 'user', content: text }, { role: 'assistant', content: reply.textContent });
    $('status').textContent = `${model.info.backend} · ${tokens.length} tokens · ${timings.decodeTokensPerSecond.toFixed(1)} tok/s (prompt ${timings.prefillTokensPerSecond.toFixed(0)} tok/s) · ${stopReason}`;
    reply.dataset.stopReason = stopReason;
  } catch (err) {
    if (err.code === 'ABORTED') reply.dataset.stopReason = 'aborted';
    else showError(err);
  } finally {
    reply.dataset.tokens = JSON.stringify(tokens);
    reply.dataset.ms = String(performance.now() - started);
    $('send').disabled = false;
    $('stop').disabled = true;
    if (document.body.dataset.state === 'generating') setState('done');
  }
}

$('load-form').onsubmit = (e) => {
  e.preventDefault();
  const source = $('model-source').value.trim();
  if (source) loadModel(source);
};
$('load-demo').onclick = () => loadModel(new URL('/demo.gguf', location.href).href);
$('model-file').onchange = (e) => e.target.files[0] && loadModel(e.target.files[0]);
$('cancel-load').onclick = () => loadController?.abort();
$('prompt-form').onsubmit = (e) => {
  e.preventDefault();
  send();
};
$('stop').onclick = () => generation?.abort();
refreshCache();

// For the end-to-end tests and the browser console: the model currently loaded.
globalThis.wasmChordDemo = { get model() { return model; } };
