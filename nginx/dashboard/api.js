// The Contacts API client of the dashboard: plain fetch, same origin, the browser's credentials.
//
// Every URL is built from location.origin, never from the document URL: a page opened as
// http://user:pass@host/dashboard/ would otherwise resolve "/contacts" to a URL with credentials
// in it, which fetch() refuses. The browser's HTTP auth cache supplies the credentials instead.

export const PAGE_SIZE = 100;

/** An API failure, classified for the UI. kind is one of: network, unauthenticated, forbidden,
 *  not_found, conflict (412), validation (400), server (5xx), http (anything else). */
export class ApiError extends Error {
  constructor(kind, status, message, code = '', fields = []) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

function absolute(path) {
  return new URL(path, location.origin).toString();
}

// A read that has not answered by then counts as a network failure (and the next poll retries);
// without it, one stuck request would hold back every refresh after it.
export const READ_TIMEOUT_MS = 15000;

async function send(method, path, { headers = {}, body, signal } = {}) {
  let timedOut = false;
  let timer = null;
  if (method === 'GET') {
    const controller = new AbortController();
    if (signal) {
      if (signal.aborted) controller.abort();
      signal.addEventListener('abort', () => controller.abort(), { once: true });
    }
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, READ_TIMEOUT_MS);
    signal = controller.signal;
  }
  try {
    return await fetch(absolute(path), {
      method,
      headers: { Accept: 'application/json', ...headers },
      body,
      signal,
      credentials: 'same-origin',
      // Our own conditional requests (If-None-Match) must reach the server and their 304s must
      // reach us, so the browser's HTTP cache stays out of the way.
      cache: 'no-store',
    });
  } catch (error) {
    if (timedOut) {
      throw new ApiError('network', 0, `The contacts service did not answer within ${READ_TIMEOUT_MS / 1000} s.`);
    }
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError('network', 0, 'The contacts service cannot be reached (network error).');
  } finally {
    clearTimeout(timer);
  }
}

function kindOf(status) {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 412) return 'conflict';
  if (status === 400) return 'validation';
  if (status >= 500) return 'server';
  return 'http';
}

async function errorFrom(response) {
  let error = null;
  try {
    const body = await response.json();
    error = body && typeof body.error === 'object' ? body.error : null;
  } catch {
    // Not JSON (a proxy's HTML page, say): fall back to the status line.
  }
  const message = (error && typeof error.message === 'string' && error.message)
    || `HTTP ${response.status} ${response.statusText}`.trim();
  const fields = error && Array.isArray(error.fields) ? error.fields : [];
  return new ApiError(kindOf(response.status), response.status, message, (error && error.code) || '', fields);
}

/** "read, write" → Set {"read", "write"}; null when the header is absent. */
export function parsePermissions(header) {
  if (header === null || header === undefined) return null;
  return new Set(header.split(',').map((part) => part.trim().toLowerCase()).filter(Boolean));
}

/** The target of the rel="next" link of a Link header, or null. */
export function parseNextLink(header) {
  if (!header) return null;
  for (const [, target, params] of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const value = rel ? (rel[1] ?? rel[2]) : '';
    if (value.toLowerCase().split(/\s+/).includes('next')) return target;
  }
  return null;
}

/** The URL of the pushed-events stream (for EventSource), from location.origin as above. */
export function eventsUrl() {
  return absolute('/contacts/_events');
}

export class ContactsClient {
  constructor() {
    // The ETag of the change feed's last answer and its URL: asking the same again costs a 304.
    this.feedTag = null;
  }

  /** The whole directory, once: {contacts, cursor, permissions}. The dashboard filters, sorts
   *  and pages it itself from then on, and follows the change feed from `cursor`. */
  async listAll(signal) {
    const response = await send('GET', '/contacts', { signal });
    const permissions = parsePermissions(response.headers.get('X-Contacts-Permissions'));
    if (!response.ok) throw await errorFrom(response);
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError('server', response.status, 'The contacts service sent a listing that is not JSON.');
    }
    const cursor = response.headers.get('X-Contacts-Cursor');
    if (!cursor) throw new ApiError('server', response.status, 'The contacts service sent no X-Contacts-Cursor.');
    return { contacts: Array.isArray(body && body.contacts) ? body.contacts : [], cursor, permissions };
  }

  /**
   * One page of the change feed after `since`: {changes, cursor, next, permissions, notModified}.
   * `next` is true when more changes remain (a Link rel="next"): ask again from `cursor` at once.
   * The ETag of the last answer is kept per URL, so an unchanged feed costs a 304.
   * A 410 (cursor_expired) or 400 (invalid_cursor) throws an ApiError with kind "gone".
   */
  async changes(since, signal) {
    const path = `/contacts/_changes?since=${encodeURIComponent(since)}`;
    const headers = this.feedTag && this.feedTag.path === path ? { 'If-None-Match': this.feedTag.etag } : {};
    const response = await send('GET', path, { headers, signal });
    const permissions = parsePermissions(response.headers.get('X-Contacts-Permissions'));
    if (response.status === 304) return { changes: [], cursor: since, next: false, permissions, notModified: true };
    if (!response.ok) {
      const error = await errorFrom(response);
      if (response.status === 410 || error.code === 'invalid_cursor') error.kind = 'gone';
      throw error;
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError('server', response.status, 'The contacts service sent a change feed that is not JSON.');
    }
    if (!body || !Array.isArray(body.changes) || typeof body.cursor !== 'string') {
      throw new ApiError('server', response.status, 'The contacts service sent a change feed without changes or cursor.');
    }
    const etag = response.headers.get('ETag');
    this.feedTag = etag ? { path, etag } : null;
    return {
      changes: body.changes,
      cursor: body.cursor,
      next: parseNextLink(response.headers.get('Link')) !== null,
      permissions,
      notModified: false,
    };
  }

  /** One contact and its ETag (needed for If-Match on PUT and DELETE). */
  async get(id) {
    const response = await send('GET', `/contacts/${encodeURIComponent(id)}`);
    if (!response.ok) throw await errorFrom(response);
    return { contact: await response.json(), etag: response.headers.get('ETag') };
  }

  async create(fields) {
    const response = await send('POST', '/contacts', {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(fields),
    });
    if (!response.ok) throw await errorFrom(response);
    return { contact: await response.json(), etag: response.headers.get('ETag') };
  }

  async update(id, etag, fields) {
    const headers = { 'Content-Type': 'application/json' };
    if (etag) headers['If-Match'] = etag;
    const response = await send('PUT', `/contacts/${encodeURIComponent(id)}`, {
      headers,
      body: JSON.stringify(fields),
    });
    if (!response.ok) throw await errorFrom(response);
    return { contact: await response.json(), etag: response.headers.get('ETag') };
  }

  async remove(id, etag) {
    const headers = etag ? { 'If-Match': etag } : {};
    const response = await send('DELETE', `/contacts/${encodeURIComponent(id)}`, { headers });
    if (!response.ok) throw await errorFrom(response);
  }
}
