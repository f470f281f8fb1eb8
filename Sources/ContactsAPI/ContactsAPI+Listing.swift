public import ContactsCore

/// Listing bodies are built once per data generation and query, then reused: dashboards poll
/// the same few URLs, and the data changes far less often than it is read.
///
/// Bounded by bytes, not entries: one listing of a 200,000-user directory is 25 MB, one filtered
/// page a few hundred bytes. When a new page would pass the bound, the least recently used pages
/// go first; a page larger than the whole bound is answered but not kept.
struct ListingCache {
  struct Page {
    var body: [UInt8]
    var total: Int
  }

  /// The most bytes of bodies and keys kept.
  let capacityBytes: Int
  private(set) var storedBytes = 0
  /// Listings answered from a kept page, and rendered anew, since the worker started.
  private(set) var hits = 0
  private(set) var misses = 0
  private var generation: UInt64?
  private var entries = LeastRecentlyUsed<String, Page>()

  init(capacityBytes: Int) {
    self.capacityBytes = capacityBytes
  }

  /// How many pages are kept now.
  var count: Int { entries.count }

  mutating func page(for rawQuery: String, query: ContactQuery, in state: DirectoryState) -> Page {
    if generation != state.generation {
      generation = state.generation
      entries.removeAll()
      storedBytes = 0
    }
    if let page = entries.use(rawQuery) {
      hits += 1
      return page
    }
    misses += 1
    let page = Self.render(query, in: state)
    let size = Self.size(of: page, key: rawQuery)
    guard size <= capacityBytes else { return page }
    while storedBytes + size > capacityBytes, let (key, evicted) = entries.removeLeastRecentlyUsed() {
      storedBytes -= Self.size(of: evicted, key: key)
    }
    entries.insert(page, for: rawQuery)
    storedBytes += size
    return page
  }

  /// What a page costs: its body and its key, plus a little for the bookkeeping.
  static func size(of page: Page, key: String) -> Int {
    page.body.count + key.utf8.count + 64
  }

  /// Filters, then sorts the matches when the query asks for an order (once per cache miss:
  /// without `sortBy` and `order` the state's own order is the listing's, and nothing is
  /// sorted), then serializes the page, projected when the query asks for `fields`.
  static func render(_ query: ContactQuery, in state: DirectoryState) -> Page {
    var matches = state.entries(matching: query)
    if let order = query.order { matches = order.sorted(matches) }
    let page = matches[query.pageRange(of: matches.count)]
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
    return Page(body: body, total: matches.count)
  }
}

extension ContactsAPI {
  /// The body of a listing and the number of matches before paging: what `GET /contacts`
  /// sends, without the cache (for benchmarks).
  public static func renderListing(_ query: ContactQuery, in state: DirectoryState) -> (body: [UInt8], total: Int) {
    let page = ListingCache.render(query, in: state)
    return (page.body, page.total)
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
    let etag = EntityTag.forListing(generation: state.generation, query: rawQuery)
    if let notModified = try evaluatePreconditions(context, etag: etag) { return notModified }

    let page = listings.page(for: rawQuery, query: query, in: state)
    var headers = readHeaders(etag: etag, permissions: context.permissions) + cursorHeader(state)
    headers.append(.init("X-Total-Count", String(page.total)))
    if let next = query.nextPageQuery(total: page.total) {
      headers.append(.init("Link", "</contacts?\(next)>; rel=\"next\""))
    }
    return APIResponse(status: 200, headers: headers, body: page.body)
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
    let etag = EntityTag.forContact(version: entry.contact.version, fields: fields)
    if let notModified = try evaluatePreconditions(context, etag: etag) { return notModified }
    let body = fields.map { entry.contact.json(fields: $0) } ?? Array(entry.json)
    return APIResponse(status: 200, headers: readHeaders(etag: etag, permissions: context.permissions), body: body)
  }
}
