public import ContactsCore

/// Listing bodies are built once per data generation and query, then reused: dashboards poll
/// the same few URLs, and the data changes far less often than it is read.
struct ListingCache {
  struct Page {
    var body: [UInt8]
    var total: Int
  }

  private var generation: UInt64?
  private var pages: [String: Page] = [:]
  /// Distinct queries kept per generation; beyond this the cache starts over.
  static let capacity = 64

  mutating func page(for rawQuery: String, query: ContactQuery, in state: DirectoryState) -> Page {
    if generation != state.generation {
      generation = state.generation
      pages.removeAll(keepingCapacity: true)
    }
    if let page = pages[rawQuery] { return page }
    let page = Self.render(query, in: state)
    if pages.count >= Self.capacity { pages.removeAll(keepingCapacity: true) }
    pages[rawQuery] = page
    return page
  }

  static func render(_ query: ContactQuery, in state: DirectoryState) -> Page {
    let matches = query.isUnfiltered ? state.entries : state.entries.filter(query.matches)
    let start = min(query.offset, matches.count)
    let end = query.limit.map { min(start + $0, matches.count) } ?? matches.count
    let page = matches[start..<end]
    var body: [UInt8] = []
    body.reserveCapacity(16 + page.reduce(0) { $0 + $1.json.count + 1 })
    body.append(contentsOf: #"{"contacts":["#.utf8)
    for (index, entry) in page.enumerated() {
      if index > 0 { body.append(UInt8(ascii: ",")) }
      body.append(contentsOf: entry.json)
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
    var headers = readHeaders(etag: etag, permissions: context.permissions)
    headers.append(.init("X-Total-Count", String(page.total)))
    if let next = query.nextPageQuery(total: page.total) {
      headers.append(.init("Link", "</contacts?\(next)>; rel=\"next\""))
    }
    return APIResponse(status: 200, headers: headers, body: page.body)
  }

  /// `GET /contacts/{id}`.
  func read(_ context: RequestContext, id: String) throws -> APIResponse {
    let entry = try existing(id, in: repository.currentState(), path: context.request.path)
    let etag = EntityTag.forContact(version: entry.contact.version)
    if let notModified = try evaluatePreconditions(context, etag: etag) { return notModified }
    return APIResponse(
      status: 200, headers: readHeaders(etag: etag, permissions: context.permissions), body: Array(entry.json))
  }
}
