// The whole directory, kept in the page: loaded once (GET /contacts), then kept current with the
// change feed (GET /contacts/_changes). Search, type filters, order and paging are done here,
// with the API's own rules (docs/api.md, "Listing, filtering and paging"), so that a page shown
// here is the page GET /contacts?q=…&type=…&limit=…&offset=… would answer:
//
// - order: name case-insensitively, then id. The service compares Swift Strings: canonically
//   (NFC) and by Unicode scalar, so the key is the lowercased name in NFC, compared by code
//   point (JavaScript's < compares UTF-16 code units, which differs above U+FFFF);
// - q: a case-insensitive substring of name, userName, firstName, lastName or employeeId (never
//   across two of them), or the digits of q within the phone number's digits (a q without
//   digits never matches a phone number); an empty q matches everything;
// - type: any of the checked types; none checked means all.

/** Lowercased as the service folds text ("A"–"Z" only for ASCII, full lowercasing otherwise). */
const fold = (text) => (typeof text === 'string' ? text.toLowerCase() : '');
const digitsOf = (text) => (typeof text === 'string' ? text.replace(/[^0-9]/g, '') : '');
// Characters at or above U+D800 need the code point comparison; names without any (nearly all)
// compare with plain <.
const NEEDS_CODE_POINTS = /[\uD800-\uFFFF]/;

function compareCodePoints(a, b) {
  const left = [...a];
  const right = [...b];
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i += 1) {
    const difference = left[i].codePointAt(0) - right[i].codePointAt(0);
    if (difference) return difference;
  }
  return left.length - right.length;
}

function compareKeys(a, b) {
  if (a.key !== b.key) {
    if (a.slowKey || b.slowKey) return compareCodePoints(a.key, b.key);
    return a.key < b.key ? -1 : 1;
  }
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

/** A contact with what filtering and ordering need, computed once. */
function entryFor(contact) {
  const key = fold(contact.name).normalize('NFC');
  const isUser = contact.type === 'User';
  const searchable = [fold(contact.name)];
  if (isUser) for (const field of ['userName', 'firstName', 'lastName', 'employeeId']) {
    if (typeof contact[field] === 'string') searchable.push(fold(contact[field]));
  }
  return {
    id: contact.id,
    contact,
    key,
    slowKey: NEEDS_CODE_POINTS.test(key),
    searchable,
    digits: digitsOf(contact.phoneNumber),
  };
}

/** Where `entry` goes in the sorted `entries` (binary search). */
function insertionPoint(entries, entry) {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys(entries[middle], entry) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

// Past this many changes in one batch, sorting everything again beats moving entries one by one.
const RESORT_THRESHOLD = 256;

export class Directory {
  constructor(contacts = []) {
    this.replace(contacts);
  }

  /** Everything, from a listing (already in the API's order, sorted here anyway to be sure). */
  replace(contacts) {
    this.entries = contacts.map(entryFor).sort(compareKeys);
    this.byId = new Map(this.entries.map((entry) => [entry.id, entry]));
  }

  get size() {
    return this.entries.length;
  }

  get(id) {
    return this.byId.get(id)?.contact ?? null;
  }

  /**
   * Applies changes of the feed in order: {op: "upsert", contact} or {op: "delete", id}.
   * Returns the set of ids whose contact changed, appeared or went.
   */
  apply(changes) {
    const touched = new Set();
    if (changes.length > RESORT_THRESHOLD) {
      for (const change of changes) this.applyToMap(change, touched);
      this.entries = [...this.byId.values()].sort(compareKeys);
      return touched;
    }
    for (const change of changes) {
      const id = change.op === 'delete' ? change.id : change.contact && change.contact.id;
      if (typeof id !== 'string') continue;
      const old = this.byId.get(id);
      if (old) {
        const at = insertionPoint(this.entries, old);
        if (this.entries[at] === old) this.entries.splice(at, 1);
        else this.entries.splice(this.entries.indexOf(old), 1);
      }
      touched.add(id);
      if (change.op === 'upsert') {
        const entry = entryFor(change.contact);
        this.entries.splice(insertionPoint(this.entries, entry), 0, entry);
        this.byId.set(id, entry);
      } else {
        this.byId.delete(id);
      }
    }
    return touched;
  }

  applyToMap(change, touched) {
    if (change.op === 'upsert' && change.contact && typeof change.contact.id === 'string') {
      this.byId.set(change.contact.id, entryFor(change.contact));
      touched.add(change.contact.id);
    } else if (change.op === 'delete' && typeof change.id === 'string') {
      this.byId.delete(change.id);
      touched.add(change.id);
    }
  }

  /**
   * The API's listing for {q, types, offset, limit}: {contacts, total, next}. `next` says whether
   * there is a page after this one (as the Link rel="next" of GET /contacts would).
   */
  query({ q = '', types = [], offset = 0, limit }) {
    const needle = fold(q);
    const needleDigits = digitsOf(q);
    const typeSet = types.length ? new Set(types) : null;
    const matches = [];
    for (const entry of this.entries) {
      if (typeSet && !typeSet.has(entry.contact.type)) continue;
      if (needle && !entry.searchable.some((text) => text.includes(needle))
          && !(needleDigits && entry.digits.includes(needleDigits))) continue;
      matches.push(entry.contact);
    }
    const start = Math.min(Math.max(offset, 0), matches.length);
    const end = limit === undefined ? matches.length : Math.min(start + limit, matches.length);
    return { contacts: matches.slice(start, end), total: matches.length, next: end < matches.length };
  }
}
