internal import Compression
public import ContactsCore

/// Listing bodies are built once per data generation and query, then reused: dashboards poll
/// the same few URLs, and the data changes far less often than it is read.
///
/// Bounded by bytes, not entries: one listing of a 200,000-user directory is 25 MB, one filtered
/// page a few hundred bytes. When a new page would pass the bound, the least recently used pages
/// go first; a page larger than the whole bound is answered but not kept.
///
/// A kept page of at least `gzipMinimumBytes` also keeps its gzip bytes, made the first time a
/// request that prefers gzip asks for it (most pages are never asked for compressed, and
/// compressing costs more than rendering) and counted in the bound like the body. A page that
/// is not kept, or whose gzip bytes would not fit, is answered uncompressed (and nginx compresses
/// it per request, as it does other JSON): compressing the same bytes again on every request is
/// what the cache is here to avoid.
struct ListingCache {
  struct Page {
    var body: [UInt8]
    var total: Int
    /// The body gzip-coded, once a request preferring gzip has asked for it.
    var gzipped: [UInt8]?
    /// The gzip bytes were made and did not fit in the bound: never make them again.
    var gzipDoesNotFit = false
  }

  /// Bodies shorter than this are never compressed (nginx's `gzip_min_length` in
  /// nginx/contacts-locations.conf): a few hundred bytes gain little and cost a header.
  static let gzipMinimumBytes = 1024
  /// zlib's default: 8% smaller than level 1 on a listing for 2.4× the time, once per
  /// generation (docs/performance.md); level 9 gains 1% more for another 2.4×.
  static let gzipLevel = 6

  /// The most bytes of bodies, their gzip bytes and keys kept.
  let capacityBytes: Int
  private(set) var storedBytes = 0
  /// Listings answered from a kept page, and rendered anew, since the worker started.
  private(set) var hits = 0
  private(set) var misses = 0
  /// Bodies gzip-coded since the worker started (for tests: once per page and generation).
  private(set) var compressions = 0
  private var generation: UInt64?
  private var entries = LeastRecentlyUsed<String, Page>()

  init(capacityBytes: Int) {
    self.capacityBytes = capacityBytes
  }

  /// How many pages are kept now.
  var count: Int { entries.count }

  /// Forgets every kept page (the counts stay).
  mutating func removeAll() {
    generation = nil
    entries.removeAll()
    storedBytes = 0
  }

  /// The page for `rawQuery` in `state`, with its gzip bytes when `gzip` is asked for and the
  /// page is kept and large enough (made now if they were not kept yet).
  mutating func page(for rawQuery: String, query: ContactQuery, in state: DirectoryState, gzip: Bool = false) -> Page {
    if generation != state.generation {
      removeAll()
      generation = state.generation
    }
    if var page = entries.use(rawQuery) {
      hits += 1
      if gzip && page.gzipped == nil && !page.gzipDoesNotFit && page.body.count >= Self.gzipMinimumBytes {
        addGzip(to: &page, key: rawQuery)
      }
      return page
    }
    misses += 1
    var page = Self.render(query, in: state)
    let size = Self.size(of: page, key: rawQuery)
    guard size <= capacityBytes else { return page }
    makeRoom(for: size)
    entries.insert(page, for: rawQuery)
    storedBytes += size
    if gzip && page.body.count >= Self.gzipMinimumBytes { addGzip(to: &page, key: rawQuery) }
    return page
  }

  /// Compresses a kept page (the most recently used: `key` was just used or inserted) and keeps
  /// the bytes beside it, evicting others if needed; marks it when they cannot fit at all.
  private mutating func addGzip(to page: inout Page, key: String) {
    let gzipped = gzip(page.body, level: Self.gzipLevel)
    compressions += 1
    if Self.size(of: page, key: key) + gzipped.count > capacityBytes {
      page.gzipDoesNotFit = true
    } else {
      makeRoom(for: gzipped.count)
      page.gzipped = gzipped
      storedBytes += gzipped.count
    }
    entries.insert(page, for: key)
  }

  /// Evicts the least recently used pages until `size` more bytes fit. The most recently used
  /// page is never among them while `size` and it fit in the bound together.
  private mutating func makeRoom(for size: Int) {
    while storedBytes + size > capacityBytes, let (key, evicted) = entries.removeLeastRecentlyUsed() {
      storedBytes -= Self.size(of: evicted, key: key)
    }
  }

  /// What a page costs: its body, its gzip bytes, its key, plus a little for the bookkeeping.
  static func size(of page: Page, key: String) -> Int {
    page.body.count + (page.gzipped?.count ?? 0) + key.utf8.count + 64
  }

  /// Filters, then sorts the matches when the query asks for an order (once per cache miss:
  /// without `sortBy` and `order` the state's own order is the listing's, and nothing is
  /// sorted), then serializes the page, projected when the query asks for `fields`.
  static func render(_ query: ContactQuery, in state: DirectoryState) -> Page {
    let total: Int
    let page: ArraySlice<IndexedContact>
    if query.isUnfiltered && query.order == nil {
      // The state's own order: only the page is copied out of it.
      total = state.count
      page = state.entries.elements(in: query.pageRange(of: total))[...]
    } else {
      var matches = state.entries(matching: query)
      if let order = query.order { matches = order.sorted(matches) }
      total = matches.count
      page = matches[query.pageRange(of: total)]
    }
    var body: [UInt8] = []
    body.reserveCapacity(16 + page.reduce(0) { $0 + $1.json.count + 1 })
    body.append(contentsOf: #"{"contacts":["#.utf8)
    for (index, entry) in page.enumerated() {
      if index > 0 { body.append(UInt8(ascii: ",")) }
      if let fields = query.fields {
        body.append(contentsOf: entry.contact.json(fields: fields))
      } else {
        body.append(contentsOf: entry.json)
      }
    }
    body.append(contentsOf: "]}".utf8)
    return Page(body: body, total: total)
  }
}

extension ContactsAPI {
  /// The body of a listing and the number of matches before paging: what `GET /contacts`
  /// sends, without the cache (for benchmarks).
  public static func renderListing(_ query: ContactQuery, in state: DirectoryState) -> (body: [UInt8], total: Int) {
    let page = ListingCache.render(query, in: state)
    return (page.body, page.total)
  }

  /// A listing's body gzip-coded as the listing cache keeps it (for benchmarks).
  public static func gzipListing(_ body: [UInt8]) -> [UInt8] {
    gzip(body, level: ListingCache.gzipLevel)
  }

  /// `GET /contacts`: filtered, ordered, optionally paged.
  func list(_ context: RequestContext, extraQuery: String) throws -> APIResponse {
    let request = context.request
    let rawQuery = [extraQuery, request.query].filter { !$0.isEmpty }.joined(separator: "&")
    let query: ContactQuery
    do throws(QueryError) {
      query = try ContactQuery.parse(rawQuery)
    } catch {
      throw APIError.invalidQuery(error)
    }
    let state = try repository.currentState()
    // Two representations, one tag each: the identity bytes and, for pages of 1 KiB and more,
    // the gzip bytes (docs/api.md#compression). Neither tag needs the page rendered.
    let etag = EntityTag.forListing(generation: state.generation, query: rawQuery)
    let gzipTag = EntityTag.gzipped(etag)
    let acceptsGzip = AcceptEncoding.prefersGzip(request.acceptEncoding)
    if var notModified = try evaluatePreconditions(context, etag: etag, gzipTag: gzipTag, acceptsGzip: acceptsGzip) {
      // Every answer to GET /contacts carries the cursor, a 304 too: the tag names this
      // generation, so the data the client holds is at this cursor.
      notModified.headers += cursorHeader(state)
      return notModified
    }

    let page = listings.page(for: rawQuery, query: query, in: state, gzip: acceptsGzip)
    let gzipped = acceptsGzip ? page.gzipped : nil
    var headers = readHeaders(etag: gzipped == nil ? etag : gzipTag, permissions: context.permissions)
    if gzipped != nil { headers.append(.init("Content-Encoding", "gzip")) }
    headers += cursorHeader(state)
    headers.append(.init("X-Total-Count", String(page.total)))
    if let next = query.nextPageQuery(total: page.total) {
      headers.append(.init("Link", "</contacts?\(next)>; rel=\"next\""))
    }
    return APIResponse(status: 200, headers: headers, body: gzipped ?? page.body)
  }

  /// `GET /contacts/{id}`, optionally with `fields` (its only parameter). The query is checked
  /// after the contact's existence (404 first) and before the preconditions.
  func read(_ context: RequestContext, id: String) throws -> APIResponse {
    let entry = try existing(id, in: repository.currentState(), path: context.request.path)
    let fields: Set<ContactAttribute>?
    do throws(QueryError) {
      fields = try ContactQuery.parseFields(context.request.query)
    } catch {
      throw APIError.invalidQuery(error)
    }
    let etag = EntityTag.forContact(version: entry.version, fields: fields)
    if let notModified = try evaluatePreconditions(context, etag: etag) { return notModified }
    let body = fields.map { entry.contact.json(fields: $0) } ?? Array(entry.json)
    return APIResponse(status: 200, headers: readHeaders(etag: etag, permissions: context.permissions), body: body)
  }
}
