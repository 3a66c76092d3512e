// Steward UI entry: sign-in, hash routing (#/queue, #/review/ID, #/entity/ID,
// #/search, #/audit) and global keyboard shortcuts. Views live in their own modules.
import { api, apiKey, setApiKey, ApiError } from './api.js';
import { say, enterScreen } from './dom.js';
import { renderQueue, queueKey, queueShowItem, queueLinks } from './queue.js';
import { renderEntity } from './entity.js';
import { renderSearch } from './search.js';
import { renderAudit, canReadAudit } from './audit.js';

const $ = (id) => document.getElementById(id);
let current = null; // {name, onKey}

function showSignIn(message) {
  $('signin').hidden = false;
  $('view').hidden = true;
  $('nav').hidden = true;
  $('who').hidden = true;
  $('signin-error').textContent = message || '';
  $('api-key').focus();
}

let auditProbe = null; // {key, promise}: whether this key may read the audit log

function showApp() {
  $('signin').hidden = true;
  $('view').hidden = false;
  $('nav').hidden = false;
  $('who').hidden = false;
  const k = apiKey() || '';
  $('who-name').textContent = `key ${k.slice(0, 8)}…`;
  // the Audit tab only for keys that may read it (compliance, admin); asked once per key
  if (!auditProbe || auditProbe.key !== k) {
    const tab = document.querySelector('[data-nav=audit]');
    tab.hidden = true;
    auditProbe = { key: k, promise: canReadAudit().catch(() => true) };
    auditProbe.promise.then((ok) => { if (auditProbe && auditProbe.key === k) tab.hidden = !ok; });
  }
}

async function route() {
  if (!apiKey()) {
    showSignIn();
    return;
  }
  showApp();
  const hash = location.hash.replace(/^#\/?/, '') || 'queue';
  const [path, query] = hash.split('?');
  const parts = path.split('/');
  const params = new URLSearchParams(query || '');
  const view = $('view');
  // every review item is the queue's screen; each golden record is a screen of its own
  enterScreen(parts[0] === 'review' ? 'queue' : parts[0] === 'entity' ? `entity/${parts[1]}` : parts[0]);
  // another item of the list on screen: only that item is loaded (one request)
  if (current && current.name === 'queue' && (parts[0] === 'review' || parts[0] === 'queue')) {
    try {
      if (await queueShowItem(parts[0] === 'review' ? Number(parts[1]) : null, params)) return;
    } catch (e) {
      say(e.message || String(e), 'error');
      return;
    }
  }
  view.replaceChildren();
  for (const a of document.querySelectorAll('[data-nav]')) {
    const active = a.dataset.nav === parts[0] || (parts[0] === 'review' && a.dataset.nav === 'queue') ||
      (parts[0] === 'entity' && a.dataset.nav === 'search');
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    if (parts[0] === 'queue' || parts[0] === 'review') {
      current = { name: 'queue', onKey: queueKey };
      await renderQueue(view, parts[0] === 'review' ? Number(parts[1]) : null, params);
    } else if (parts[0] === 'entity' && parts[1]) {
      current = { name: 'entity' };
      await renderEntity(view, Number(parts[1]));
    } else if (parts[0] === 'search') {
      current = { name: 'search' };
      await renderSearch(view, params);
    } else if (parts[0] === 'audit') {
      current = { name: 'audit' };
      await renderAudit(view, params);
    } else {
      location.hash = '#/queue';
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setApiKey(null);
      showSignIn('That key is not valid (any more). Sign in again.');
      return;
    }
    say(e.message || String(e), 'error');
  }
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = $('api-key').value.trim();
  if (!key) return;
  setApiKey(key);
  try {
    await api.queue({ limit: 1 });
    $('api-key').value = '';
    route();
  } catch (e) {
    setApiKey(null);
    const msg = e instanceof ApiError && (e.status === 401 || e.status === 403)
      ? 'This key is not a steward key, or it is not valid.'
      : `Cannot sign in: ${e.message}`;
    showSignIn(msg);
  }
});

$('sign-out').addEventListener('click', () => {
  setApiKey(null);
  sessionStorage.removeItem('mdm.steward.queue');
  queueLinks();
  current = null;
  $('view').replaceChildren();
  location.hash = '#/queue';
  showSignIn('Signed out.');
});

document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  if ($('help').open) return;
  if (ev.key === '?') {
    ev.preventDefault();
    $('help').showModal();
    return;
  }
  if (ev.key === '/') {
    ev.preventDefault();
    location.hash = '#/search';
    return;
  }
  if (current && current.onKey && current.onKey(ev.key)) ev.preventDefault();
});

window.addEventListener('hashchange', route);
queueLinks();
route();
