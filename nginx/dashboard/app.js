// The agents' dashboard: search, filter, page through and call contacts; admins also edit them.
import { ContactsClient, PAGE_SIZE, eventsUrl } from './api.js';
import { Directory } from './directory.js';
import { contactForm, deleteConfirm, writeErrorMessage } from './editor.js';
import { copyText, el, formatCount, formatTime, telHref } from './util.js';

// The change feed is read when an event says the data moved, and also every SAFETY_POLL_MS while
// the event stream is open (in case an event was lost), every FAST_POLL_MS otherwise.
const SAFETY_POLL_MS = 30000;
const FAST_POLL_MS = 3000;
const BLOCKED_POLL_MS = 30000; // signed out or forbidden: check now and then whether that changed
const EVENTS_RETRY_MIN_MS = 5000;
const EVENTS_RETRY_MAX_MS = 300000;
const MAX_FEED_PAGES = 20; // per read; a longer backlog goes on in the next read
const SEARCH_DEBOUNCE_MS = 150;
const TYPES = ['Queue', 'User', 'Custom'];

const api = new ContactsClient();
const directory = new Directory();
const $ = (id) => document.getElementById(id);

const state = {
  // The query, mirrored in the URL's fragment so a reload keeps the view.
  q: '',
  types: new Set(),
  offset: 0,
  // The page on screen (computed from the directory).
  contacts: [],
  // The change feed's position the directory is at (X-Contacts-Cursor, then the feed's cursor).
  cursor: null,
  total: 0,
  next: false, // whether there is a page after this one
  loaded: false, // a listing has been shown at least once
  checkedAt: null,
  // "loading" | "list" | "unauthenticated" | "forbidden"
  view: 'loading',
  // null, or {kind: "offline" | "error", message}
  problem: null,
  canWrite: false,
  permissions: null,
  selectedId: null,
  // The open admin form: null or {mode: "new" | "edit" | "delete", id, etag, form, row}
  editor: null,
};

// ---------------------------------------------------------------- the query and the URL fragment

function readFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  state.q = params.get('q') || '';
  state.types = new Set(params.getAll('type').filter((type) => TYPES.includes(type)));
  const offset = Number(params.get('offset'));
  state.offset = Number.isInteger(offset) && offset > 0 ? offset : 0;
}

function writeFragment() {
  const params = new URLSearchParams();
  if (state.q) params.set('q', state.q);
  for (const type of TYPES) if (state.types.has(type)) params.append('type', type);
  if (state.offset) params.set('offset', String(state.offset));
  const fragment = params.toString();
  const url = `${location.pathname}${location.search}${fragment ? `#${fragment}` : ''}`;
  history.replaceState(null, '', url);
}

function currentQuery() {
  return { q: state.q, types: TYPES.filter((type) => state.types.has(type)), limit: PAGE_SIZE, offset: state.offset };
}

// ---------------------------------------------------------------- loading and following changes
//
// The whole directory is read once (GET /contacts, no limit) and kept in `directory`; the page on
// screen is computed from it (directory.js, with the API's rules). From then on the page follows
// the change feed from the listing's X-Contacts-Cursor: GET /contacts/_changes?since=<cursor>
// whenever the event stream says the data moved, and as a safety net every 30 s (every 3 s when
// there is no stream). No listing request is made again, except after a 410 (the feed no longer
// reaches back to our cursor) or a 400 invalid_cursor (the service's data was replaced).

let inflight = null; // the directory load in flight: {controller}
let syncing = null; // the change-feed read in flight: a promise
let syncAgain = false; // something asked for a read while one was in flight
let pollTimer = null;
let pollDue = 0;
let pendingWhileHidden = false;

function pollInterval() {
  // Fast while the stream is not open or the last read failed ("Retrying every few seconds").
  if (state.view === 'unauthenticated' || state.view === 'forbidden') return BLOCKED_POLL_MS;
  if (state.problem || !state.loaded) return FAST_POLL_MS;
  return live.open ? SAFETY_POLL_MS : FAST_POLL_MS;
}

function cancelPoll() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

/** The next read in pollInterval(), unless one is due sooner already. */
function schedulePoll() {
  const due = Date.now() + pollInterval();
  if (pollTimer !== null && pollDue <= due) return;
  cancelPoll();
  pollDue = due;
  pollTimer = setTimeout(() => {
    pollTimer = null;
    // A hidden tab does not poll; becoming visible again checks at once.
    if (document.visibilityState === 'hidden') {
      pendingWhileHidden = true;
      schedulePoll();
      return;
    }
    if (state.loaded) sync('poll');
    else loadDirectory();
  }, due - Date.now());
}

/** Reads the whole directory (the first load, and again after a 410). */
async function loadDirectory() {
  if (inflight) inflight.controller.abort();
  cancelPoll();
  const controller = new AbortController();
  const mine = { controller };
  inflight = mine;
  $('list').setAttribute('aria-busy', 'true');
  try {
    const listing = await api.listAll(controller.signal);
    if (inflight !== mine) return;
    applyPermissions(listing.permissions);
    directory.replace(listing.contacts);
    state.cursor = listing.cursor;
    state.problem = null;
    state.checkedAt = new Date();
    state.view = 'list';
    state.loaded = true;
    recompute();
    render();
    markFirstRender();
    openEvents();
  } catch (error) {
    if (error && error.name === 'AbortError') return;
    if (inflight !== mine) return;
    showFailure(error);
  } finally {
    if (inflight === mine) {
      inflight = null;
      $('list').removeAttribute('aria-busy');
      renderStates();
      schedulePoll();
    }
  }
}

/**
 * Brings the directory up to date with the change feed. Only one read at a time; a request
 * while one is in flight makes it read once more when done (an event may have come in after
 * the server answered). Resolves when the directory is as current as it gets.
 */
function sync(reason) {
  if (!state.loaded) return Promise.resolve();
  if (reason === 'event' && document.visibilityState === 'hidden') {
    pendingWhileHidden = true;
    return Promise.resolve();
  }
  if (syncing) {
    syncAgain = true;
    return syncing;
  }
  syncing = (async () => {
    do {
      syncAgain = false;
      if (!(await syncOnce())) break;
    } while (syncAgain);
  })().finally(() => {
    syncing = null;
    renderStates();
    schedulePoll();
  });
  return syncing;
}

/** Follows the feed until it has no more; false when it failed (the caller stops). */
async function syncOnce() {
  cancelPoll();
  try {
    for (let pages = 0; pages < MAX_FEED_PAGES; pages += 1) {
      const since = state.cursor;
      const feed = await api.changes(since);
      if (state.cursor !== since || inflight) return true; // a reload replaced what we had
      applyPermissions(feed.permissions);
      state.checkedAt = new Date();
      const wasBlocked = state.view !== 'list' || state.problem;
      state.problem = null;
      state.view = 'list';
      if (feed.changes.length) {
        state.cursor = feed.cursor;
        applyChanges(feed.changes);
      } else {
        state.cursor = feed.cursor;
        if (wasBlocked) render();
        else renderStates();
      }
      if (!feed.next) return true;
    }
    syncAgain = true; // a long backlog: go on, but let the page breathe between batches
    return true;
  } catch (error) {
    if (error && error.name === 'AbortError') return false;
    if (error.kind === 'gone') {
      // The feed cannot bring us up to date from here: read everything again.
      announce('Reloading the contacts: too much changed while this page was away.');
      loadDirectory();
      return false;
    }
    showFailure(error);
    return false;
  }
}

/** Applies changes of the feed (or of our own writes) and re-renders what they affect. */
function applyChanges(changes) {
  const touched = directory.apply(changes);
  if (!touched.size) return;
  const before = state.contacts;
  recompute();
  const shown = (contacts) => contacts.some((contact) => touched.has(contact.id));
  if (shown(before) || shown(state.contacts) || before.length !== state.contacts.length) {
    render();
  } else {
    // Nothing on this page changed; only the counts may have.
    renderStates();
    renderPager();
  }
}

function showFailure(error) {
  switch (error.kind) {
    case 'unauthenticated':
      state.view = 'unauthenticated';
      break;
    case 'forbidden':
      state.view = 'forbidden';
      $('forbidden-detail').textContent = error.message;
      break;
    case 'network':
      state.problem = { kind: 'offline', message: error.message };
      break;
    default:
      state.problem = { kind: 'error', message: `${error.message} (HTTP ${error.status})` };
  }
  if (state.view === 'unauthenticated' || state.view === 'forbidden') {
    state.problem = null;
    applyPermissions(new Set());
  }
  render();
  markFirstRender();
}

/** The page on screen, from the directory and the query. */
function recompute() {
  let page = directory.query({ ...currentQuery(), limit: PAGE_SIZE });
  if (page.contacts.length === 0 && page.total > 0 && state.offset > 0) {
    // The page emptied (contacts were deleted, or the search narrowed): go to the last page.
    state.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE;
    writeFragment();
    page = directory.query({ ...currentQuery(), limit: PAGE_SIZE });
  }
  state.contacts = page.contacts;
  state.total = page.total;
  state.next = page.next;
}

function queryChanged() {
  state.selectedId = null;
  writeFragment();
  if (!state.loaded) return;
  recompute();
  render();
}

/** Our own write, shown at once; the feed brings the same change (and anyone else's) next. */
function wrote(changes) {
  applyChanges(changes);
  sync('write');
}

// ---------------------------------------------------------------- the event stream
//
// EventSource on /contacts/_events (same origin: the browser sends the credentials it has). Each
// "changes" event carries the feed's new cursor; one we are at already costs nothing. The browser
// reconnects by itself after a network error; when the stream fails for good (501 without nchan,
// a proxy's error page, 401/403), we poll every 3 s and try the stream again later, waiting
// longer each time (up to 5 minutes), so a service without events costs one try per 5 minutes.

const live = { source: null, open: false, retryTimer: null, retryDelay: 0, everOpened: false };

function openEvents() {
  if (live.source || typeof EventSource !== 'function') return;
  clearTimeout(live.retryTimer);
  const source = new EventSource(eventsUrl());
  live.source = source;
  source.addEventListener('open', () => {
    live.open = true;
    live.everOpened = true;
    live.retryDelay = 0;
    renderStates();
    // Anything committed while the stream was not open: read it now (usually a 304).
    sync('open');
  });
  source.addEventListener('changes', (event) => {
    let cursor = null;
    try {
      cursor = JSON.parse(event.data).cursor;
    } catch {
      cursor = null;
    }
    if (cursor && cursor === state.cursor) return;
    sync('event');
  });
  source.addEventListener('error', () => {
    const wasOpen = live.open;
    live.open = false;
    if (source.readyState === EventSource.CLOSED) {
      // Failed for good: poll, and try again later.
      source.close();
      live.source = null;
      live.retryDelay = Math.min(Math.max(live.retryDelay * 2, EVENTS_RETRY_MIN_MS), EVENTS_RETRY_MAX_MS);
      live.retryTimer = setTimeout(openEvents, live.retryDelay);
    }
    renderStates();
    // Polling takes over at once: a read now tells whether the service is there at all.
    if (wasOpen) sync('poll');
    else schedulePoll();
  });
}

let lastMode = null;
function renderConnection() {
  let mode;
  if (state.problem) mode = 'offline';
  else if (!state.loaded) mode = 'connecting';
  else if (live.open) mode = 'live';
  else mode = 'polling';
  const indicator = $('connection');
  if (mode === lastMode) return;
  lastMode = mode;
  const text = {
    connecting: ['Connecting…', 'Updates: connecting'],
    live: ['Live', 'Updates: live, changes appear as they are made'],
    polling: ['Polling', `Updates: polling, changes appear within ${FAST_POLL_MS / 1000} s`],
    offline: ['Offline', 'Updates: offline, not receiving changes'],
  }[mode];
  indicator.dataset.mode = mode;
  $('connection-text').textContent = text[0];
  indicator.setAttribute('aria-label', text[1]);
  indicator.title = text[1];
}

let firstRenderMarked = false;
function markFirstRender() {
  if (firstRenderMarked) return;
  firstRenderMarked = true;
  // For the browser test: milliseconds from navigation start to the first listing on screen.
  requestAnimationFrame(() => {
    performance.mark('contacts-first-render');
    document.documentElement.dataset.firstRenderMs = String(Math.round(performance.now()));
  });
}

// ---------------------------------------------------------------- permissions

function applyPermissions(permissions) {
  if (permissions === null) return; // the header is missing: keep what we knew
  const canWrite = permissions.has('write');
  const known = permissions.has('read') || canWrite;
  state.permissions = permissions;
  const badge = $('permissions');
  badge.hidden = !known;
  badge.textContent = canWrite ? 'Admin: can edit custom contacts' : 'Read only';
  badge.className = `badge ${canWrite ? 'badge-write' : 'badge-read'}`;
  if (canWrite === state.canWrite) return;
  state.canWrite = canWrite;
  $('new-contact').hidden = !canWrite;
  if (!canWrite && state.editor) closeEditor();
  renderRows();
}

// ---------------------------------------------------------------- rendering

function render() {
  renderStates();
  renderRows();
  renderPager();
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function renderStates() {
  const { view, problem } = state;
  const blocked = view === 'unauthenticated' || view === 'forbidden';
  document.body.dataset.view = view;
  show('state-loading', view === 'loading' && !problem);
  show('state-unauthenticated', view === 'unauthenticated');
  show('state-forbidden', view === 'forbidden');
  show('state-offline', !blocked && problem?.kind === 'offline');
  show('state-error', !blocked && problem?.kind === 'error');
  if (problem?.kind === 'error') {
    $('error-detail').textContent = problem.message;
    $('error-stale').textContent = `${state.loaded && state.checkedAt
      ? `Showing the list as it was at ${formatTime(state.checkedAt)}. ` : ''}Retrying every few seconds.`;
  }
  $('offline-detail').textContent = problem?.kind === 'offline'
    ? `${problem.message}${state.checkedAt ? ` Showing the list as it was at ${formatTime(state.checkedAt)}.` : ''}` : '';
  show('controls', !blocked);
  show('keys-help', !blocked);
  show('results', !blocked && state.loaded);
  show('editor-host', !blocked);
  if (blocked) $('new-contact').hidden = true;
  $('results').classList.toggle('stale', !!problem);
  const empty = view === 'list' && state.contacts.length === 0;
  show('state-empty', empty && !blocked);
  if (empty) {
    const filters = [];
    if (state.q) filters.push(`“${state.q}”`);
    if (state.types.size) filters.push(`type ${[...state.types].join(' or ')}`);
    $('state-empty').textContent = filters.length ? `No contacts match ${filters.join(' and ')}.` : 'There are no contacts yet.';
  }
  const how = live.open
    ? 'changes appear as they are made'
    : `the list checks for changes every ${FAST_POLL_MS / 1000} s`;
  $('updated').textContent = state.checkedAt
    ? `Checked for changes at ${formatTime(state.checkedAt)}; ${how}.` : '';
  renderConnection();
}

function renderPager() {
  const { offset, contacts, total } = state;
  $('range').textContent = contacts.length
    ? `${formatCount(offset + 1)}–${formatCount(offset + contacts.length)} of ${formatCount(total)}`
    : `0 of ${formatCount(total)}`;
  document.querySelector('.range-bottom').textContent = $('range').textContent;
  for (const suffix of ['', '-bottom']) {
    $(`prev-page${suffix}`).disabled = offset === 0;
    $(`next-page${suffix}`).disabled = !state.next;
  }
  // One page needs no second set of buttons at the bottom.
  document.querySelector('.pager-bottom').hidden = offset === 0 && !state.next;
}

const rowCache = new Map(); // id → {row, signature}

function rowSignature(contact) {
  return JSON.stringify([contact.name, contact.type, contact.phoneNumber ?? null, contact.userName ?? null,
    contact.employeeId ?? null, state.canWrite]);
}

function buildRow(contact) {
  const href = telHref(contact.phoneNumber);
  const details = contact.type === 'User'
    ? [contact.userName, contact.employeeId].filter(Boolean).join(' · ') : '';
  const phone = href
    ? el('a', { class: 'tel', href, 'aria-label': `Call ${contact.name}, ${contact.phoneNumber}` }, contact.phoneNumber)
    : el('span', { class: 'muted' }, contact.phoneNumber || 'no number');
  const actions = el('td', { class: 'col-actions' });
  if (contact.phoneNumber) {
    actions.append(el('button', {
      type: 'button', class: 'button small copy', dataset: { action: 'copy' },
      'aria-label': `Copy the number of ${contact.name}`,
    }, 'Copy'));
  }
  if (state.canWrite && contact.type === 'Custom') {
    actions.append(
      el('button', { type: 'button', class: 'button small edit', dataset: { action: 'edit' }, 'aria-label': `Edit ${contact.name}` }, 'Edit'),
      el('button', { type: 'button', class: 'button small delete', dataset: { action: 'delete' }, 'aria-label': `Delete ${contact.name}` }, 'Delete'),
    );
  }
  return el('tr', { class: 'row', tabindex: '-1', dataset: { id: contact.id, type: contact.type } },
    el('td', { class: 'col-name' }, el('span', { class: 'name' }, contact.name), details ? el('span', { class: 'details' }, details) : null),
    el('td', { class: 'col-type' }, el('span', { class: `type type-${contact.type}` }, contact.type)),
    el('td', { class: 'col-phone' }, phone),
    actions);
}

/** Puts exactly `wanted` into `parent`, in order, moving as few nodes as it can (focus survives). */
function reconcile(parent, wanted) {
  const keep = new Set(wanted);
  for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
  let cursor = parent.firstElementChild;
  for (const node of wanted) {
    if (node === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      parent.insertBefore(node, cursor);
    }
  }
}

function renderRows() {
  const wanted = [];
  const present = new Set();
  const editor = state.editor;
  for (const contact of state.contacts) {
    present.add(contact.id);
    if (editor && editor.row && editor.id === contact.id) {
      wanted.push(editor.row);
      continue;
    }
    const signature = rowSignature(contact);
    let entry = rowCache.get(contact.id);
    if (!entry || entry.signature !== signature) {
      entry = { row: buildRow(contact), signature };
      rowCache.set(contact.id, entry);
    }
    wanted.push(entry.row);
  }
  if (editor && editor.row && !present.has(editor.id)) {
    // Someone else's change moved it off this page (or deleted it): keep the form on screen.
    wanted.unshift(editor.row);
  }
  for (const id of [...rowCache.keys()]) if (!present.has(id)) rowCache.delete(id);
  const focus = focusedRowPlace();
  reconcile($('rows'), wanted);
  restoreFocus(focus);
  if (state.selectedId && !present.has(state.selectedId)) state.selectedId = null;
  renderSelection();
}

/** Where focus is in the rows (row id, which control, row index), to put it back after a change. */
function focusedRowPlace() {
  const active = document.activeElement;
  const rows = $('rows');
  if (!active || !rows.contains(active)) return null;
  const row = active.closest('tr.row');
  if (!row || row.dataset.editing) return null;
  let control = null;
  if (active.matches('a.tel')) control = 'a.tel';
  else if (active.dataset.action) control = `button[data-action="${active.dataset.action}"]`;
  return { active, id: row.dataset.id, control, index: [...rows.children].indexOf(row) };
}

/**
 * A row that changed is built anew, and one that went is gone: focus inside it would fall back
 * to the page. Put it on the same control of the new row, or (the row went) on the row now in
 * its place, or the list itself.
 */
function restoreFocus(place) {
  if (!place || document.contains(place.active)) return;
  const row = rowFor(place.id);
  let target = null;
  if (row) target = (place.control && row.querySelector(place.control)) || row;
  else {
    const rows = [...$('rows').querySelectorAll('tr.row:not(.editing)')];
    target = rows[Math.min(place.index, rows.length - 1)] || $('list');
  }
  target.focus({ preventScroll: true });
}

function renderSelection() {
  for (const row of $('rows').querySelectorAll('tr.selected')) {
    row.classList.remove('selected');
    row.removeAttribute('aria-current');
  }
  const row = rowFor(state.selectedId);
  if (row) {
    row.classList.add('selected');
    row.setAttribute('aria-current', 'true');
  }
}

function rowFor(id) {
  if (!id) return null;
  return $('rows').querySelector(`tr[data-id="${CSS.escape(id)}"]`);
}

function contactFor(id) {
  return state.contacts.find((contact) => contact.id === id) || directory.get(id);
}

// ---------------------------------------------------------------- status messages

let statusTimer = null;
function announce(message) {
  const status = $('status');
  clearTimeout(statusTimer);
  // Clear first so the same message twice is announced twice.
  status.textContent = '';
  requestAnimationFrame(() => {
    status.textContent = message;
  });
  statusTimer = setTimeout(() => {
    status.textContent = '';
  }, 8000);
}

// ---------------------------------------------------------------- selection, calling, copying

function select(id, { focus = false, announceIt = false } = {}) {
  state.selectedId = id;
  renderSelection();
  const row = rowFor(id);
  if (!row) return;
  row.scrollIntoView({ block: 'nearest' });
  if (focus) row.focus({ preventScroll: true });
  const contact = contactFor(id);
  if (announceIt && contact) {
    $('selection-announcer').textContent = `${contact.name}, ${contact.type}, ${contact.phoneNumber || 'no number'}`;
  }
}

function moveSelection(step, options) {
  const ids = state.contacts.map((contact) => contact.id);
  if (!ids.length) return;
  const index = ids.indexOf(state.selectedId);
  const nextIndex = index < 0 ? (step > 0 ? 0 : ids.length - 1) : Math.min(ids.length - 1, Math.max(0, index + step));
  select(ids[nextIndex], options);
}

function dial(id) {
  const contact = contactFor(id);
  const link = rowFor(id)?.querySelector('a.tel');
  if (!contact) return;
  if (!link) {
    announce(`${contact.name} has no phone number to call.`);
    return;
  }
  announce(`Calling ${contact.name} at ${contact.phoneNumber}…`);
  link.click();
}

async function copyNumber(id, button) {
  const contact = contactFor(id);
  if (!contact || !contact.phoneNumber) return;
  const copied = await copyText(contact.phoneNumber);
  if (copied) {
    announce(`Copied ${contact.phoneNumber} (${contact.name}).`);
    button.textContent = 'Copied';
    button.classList.add('done');
    setTimeout(() => {
      button.textContent = 'Copy';
      button.classList.remove('done');
    }, 1500);
  } else {
    announce(`Could not copy; select the number ${contact.phoneNumber} and copy it yourself.`);
  }
}

// ---------------------------------------------------------------- admin: new, edit, delete

function closeEditor({ restoreFocusTo } = {}) {
  const editor = state.editor;
  if (!editor) return;
  state.editor = null;
  if (editor.row) {
    editor.row.remove();
    renderRows();
  } else {
    editor.form.root.remove();
  }
  const target = restoreFocusTo || (editor.id ? rowFor(editor.id) : $('new-contact'));
  if (target) target.focus();
}

function editorRow(id, form) {
  return el('tr', { class: 'row editing', dataset: { id, editing: 'true' } }, el('td', { colspan: '4' }, form.root));
}

function openNew() {
  closeEditor();
  const editor = { mode: 'new', id: null, etag: null };
  editor.form = contactForm('new', {
    onSubmit: (values) => saveNew(editor, values),
    onCancel: () => closeEditor({ restoreFocusTo: $('new-contact') }),
  });
  state.editor = editor;
  $('editor-host').append(editor.form.root);
  editor.form.focus();
}

async function saveNew(editor, values) {
  editor.form.clearErrors();
  editor.form.setBusy(true, 'Creating…');
  try {
    const { contact } = await api.create(values);
    if (state.editor !== editor) return;
    closeEditor({ restoreFocusTo: $('search') });
    state.selectedId = contact.id;
    announce(`Created “${contact.name}”.`);
    wrote([{ op: 'upsert', contact }]);
  } catch (error) {
    if (state.editor !== editor) return;
    editor.form.setBusy(false);
    editor.form.showError(error);
  }
}

/** Reads a contact for its current values and ETag, into an open edit or delete form. */
async function loadIntoEditor(editor) {
  editor.form.setEnabled(false);
  try {
    const { contact, etag } = await api.get(editor.id);
    if (state.editor !== editor) return;
    editor.etag = etag;
    editor.form.setEnabled(true);
    editor.form.clearErrors();
    editor.form.fill(contact);
    editor.form.focus();
  } catch (error) {
    if (state.editor !== editor) return;
    editor.form.showError(error);
    if (error.kind === 'not_found') wrote([{ op: 'delete', id: editor.id }]);
  }
}

function openEdit(id) {
  closeEditor();
  const editor = { mode: 'edit', id, etag: null };
  editor.form = contactForm('edit', {
    onSubmit: (values) => saveEdit(editor, values),
    onCancel: () => closeEditor(),
    onReload: () => loadIntoEditor(editor),
  });
  const contact = contactFor(id);
  if (contact) editor.form.fill(contact);
  editor.row = editorRow(id, editor.form);
  state.editor = editor;
  renderRows();
  loadIntoEditor(editor);
}

async function saveEdit(editor, values) {
  editor.form.clearErrors();
  editor.form.setBusy(true);
  try {
    const { contact, etag } = await api.update(editor.id, editor.etag, values);
    if (state.editor !== editor) return;
    editor.etag = etag;
    closeEditor({ restoreFocusTo: $('search') });
    state.selectedId = contact.id;
    announce(`Saved “${contact.name}”.`);
    wrote([{ op: 'upsert', contact }]);
  } catch (error) {
    if (state.editor !== editor) return;
    editor.form.setBusy(false);
    editor.form.showError(error);
  }
}

function openDelete(id) {
  closeEditor();
  const editor = { mode: 'delete', id, etag: null };
  editor.form = deleteConfirm({
    onConfirm: () => confirmDelete(editor),
    onCancel: () => closeEditor(),
    onReload: () => loadIntoEditor(editor),
  });
  editor.row = editorRow(id, editor.form);
  state.editor = editor;
  renderRows();
  loadIntoEditor(editor);
}

async function confirmDelete(editor) {
  editor.form.clearErrors();
  editor.form.setBusy(true);
  const contact = contactFor(editor.id);
  try {
    await api.remove(editor.id, editor.etag);
    if (state.editor !== editor) return;
    closeEditor({ restoreFocusTo: $('search') });
    announce(`Deleted “${contact ? contact.name : editor.id}”.`);
    wrote([{ op: 'delete', id: editor.id }]);
  } catch (error) {
    if (state.editor !== editor) return;
    editor.form.setBusy(false);
    editor.form.showError(error);
  }
}

// ---------------------------------------------------------------- events

function isTextField(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || target.matches('textarea, select, input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit])'));
}

function onKeyDown(event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target;
  const search = $('search');
  const inSearch = target === search;
  const inEditor = target instanceof Element && !!target.closest('#editor');
  if (event.key === 'Escape') {
    if (state.editor && inEditor) {
      event.preventDefault();
      closeEditor();
    } else if (inSearch && search.value) {
      event.preventDefault();
      search.value = '';
      onSearchInput();
    }
    return;
  }
  if (inEditor || (isTextField(target) && !inSearch)) return;
  if (state.view !== 'list') return;
  if (event.key === '/' && !inSearch) {
    event.preventDefault();
    search.focus();
    search.select();
  } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    moveSelection(event.key === 'ArrowDown' ? 1 : -1, { focus: !inSearch, announceIt: inSearch });
  } else if (event.key === 'Enter') {
    // Buttons and links keep their own Enter.
    if (target instanceof Element && target.closest('a, button')) return;
    if (state.selectedId) {
      event.preventDefault();
      dial(state.selectedId);
    } else if (inSearch) {
      announce('Choose a contact with the arrow keys first, then press Enter to call.');
    }
  }
}

let searchTimer = null;
function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const q = $('search').value.trim();
    if (q === state.q) return;
    state.q = q;
    state.offset = 0;
    queryChanged();
  }, SEARCH_DEBOUNCE_MS);
}

function onRowsClick(event) {
  const row = event.target.closest('tr.row');
  if (!row || row.dataset.editing) return;
  const id = row.dataset.id;
  const button = event.target.closest('button[data-action]');
  if (button) {
    select(id);
    const action = button.dataset.action;
    if (action === 'copy') copyNumber(id, button);
    else if (action === 'edit') openEdit(id);
    else if (action === 'delete') openDelete(id);
    return;
  }
  if (event.target.closest('a')) {
    select(id);
    return;
  }
  select(id, { focus: true });
}

function goToPage(offset) {
  state.offset = Math.max(0, offset);
  queryChanged();
  $('list').focus({ preventScroll: true });
  $('results').scrollIntoView({ block: 'start' });
}

function nextOffset() {
  return state.offset + PAGE_SIZE;
}

function start() {
  readFragment();
  const search = $('search');
  search.value = state.q;
  for (const type of TYPES) {
    const box = $(`filter-${type}`);
    box.checked = state.types.has(type);
    box.addEventListener('change', () => {
      if (box.checked) state.types.add(type);
      else state.types.delete(type);
      state.offset = 0;
      queryChanged();
    });
  }
  search.addEventListener('input', onSearchInput);
  document.addEventListener('keydown', onKeyDown);
  $('rows').addEventListener('click', onRowsClick);
  $('new-contact').addEventListener('click', openNew);
  for (const suffix of ['', '-bottom']) {
    $(`prev-page${suffix}`).addEventListener('click', () => goToPage(state.offset - PAGE_SIZE));
    $(`next-page${suffix}`).addEventListener('click', () => goToPage(nextOffset()));
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && pendingWhileHidden) {
      pendingWhileHidden = false;
      if (state.loaded) sync('visible');
      else loadDirectory();
    }
  });
  window.addEventListener('online', () => (state.loaded ? sync('online') : loadDirectory()));
  // The browser knows it lost the network before any read fails (an open stream may not notice).
  window.addEventListener('offline', () => {
    state.problem = { kind: 'offline', message: 'This device is offline.' };
    render();
    schedulePoll();
  });
  window.addEventListener('hashchange', () => {
    readFragment();
    search.value = state.q;
    for (const type of TYPES) $(`filter-${type}`).checked = state.types.has(type);
    queryChanged();
  });
  render();
  loadDirectory();
}

start();

// Exposed for debugging in the console only.
export { state, writeErrorMessage };
