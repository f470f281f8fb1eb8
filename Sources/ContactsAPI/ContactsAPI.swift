public import ContactsCore
public import Logging

/// The contacts API: one `APIRequest` in, one `APIResponse` out.
///
/// Checks run in docs/api.md's order and the first that fails answers: identity (401), permission
/// for the method (403), the path and the contact's existence (404), the method for that
/// contact's type (405), preconditions (412, or 304 for reads), then the body (415, 413, 400).
/// Writes make those checks inside `ContactRepository.commit`, under the write lock, so an
/// `If-Match` is compared with the contact as it is at the moment of writing.
///
/// Not thread-safe: a worker process owns one and serves one request at a time.
public final class ContactsAPI {
  /// Roles and limits: what the service's configuration gives the API.
  public struct Configuration: Sendable {
    public var policy: RolePolicy
    /// Bodies longer than this answer 413.
    public var maximumBodyBytes: Int
    /// The limit for `POST /contacts/_bulk` (1 MiB: up to 1,000 operations).
    public var maximumBulkBodyBytes = 1 << 20
    /// The most bytes of serialized listings a worker keeps (least recently used go first).
    public var listingCacheBytes: Int

    public static let defaultListingCacheBytes = 64 << 20

    public init(
      policy: RolePolicy = .default, maximumBodyBytes: Int = 65536,
      listingCacheBytes: Int = Configuration.defaultListingCacheBytes
    ) {
      self.policy = policy
      self.maximumBodyBytes = maximumBodyBytes
      self.listingCacheBytes = listingCacheBytes
    }
  }

  let repository: any ContactRepository
  let configuration: Configuration
  let logger: Logger
  var listings: ListingCache

  /// - Parameters:
  ///   - repository: where contacts are read and written.
  ///   - configuration: roles and limits.
  ///   - logger: where unexpected failures (answered with a 500) and refusals are logged, unless
  ///     `respond(to:logger:)` is given a logger of the request's own.
  public init(
    repository: any ContactRepository, configuration: Configuration = .init(),
    logger: Logger = Logger(label: "contacts.api", factory: { _ in SwiftLogNoOpLogHandler() })
  ) {
    self.repository = repository
    self.configuration = configuration
    self.logger = logger
    self.listings = ListingCache(capacityBytes: configuration.listingCacheBytes)
  }

  /// Bytes and pages of serialized listings this worker keeps now.
  public var listingCacheUsage: (bytes: Int, pages: Int) { (listings.storedBytes, listings.count) }

  /// Listings this worker answered from its cache, and rendered because they were not there.
  public var listingCacheLookups: (hits: Int, misses: Int) { (listings.hits, listings.misses) }

  /// Answers `request`. Never throws: an `APIError` becomes its error body, anything else a
  /// logged 500.
  ///
  /// - Parameter logger: the request's logger (with its user and request id as metadata);
  ///   the API's own when `nil`.
  public func respond(to request: APIRequest, logger: Logger? = nil) -> APIResponse {
    let logger = logger ?? self.logger
    var response: APIResponse
    do {
      response = try route(request, logger: logger)
    } catch let error as APIError {
      response = Self.errorResponse(error)
    } catch let error as ContactStoreUnavailable {
      logger.error(
        "\(request.method) \(request.path): \(error)", metadata: ["event": "store_unavailable"])
      response = Self.errorResponse(.storeUnavailable(error))
    } catch {
      logger.error(
        "\(request.method) \(request.path): \(error)", metadata: ["event": "request_failed"])
      response = Self.errorResponse(.internalError)
    }
    return Self.finished(response, for: request)
  }

  /// The 503 that replaces an answer computed from changes the store could not make durable
  /// (`ContactRepository.settleWrites()` threw): held, it was never sent, and is not now.
  /// Forgets the listings kept meanwhile too, since their generation may hold those changes.
  public func unavailableAnswer(to request: APIRequest, because error: ContactStoreUnavailable) -> APIResponse {
    listings.removeAll()
    var failure = error
    failure.duringWrite = !Self.readMethods.contains(request.method)
    return Self.finished(Self.errorResponse(.storeUnavailable(failure)), for: request)
  }

  /// The headers every answer carries, and no body for HEAD.
  private static func finished(_ answer: APIResponse, for request: APIRequest) -> APIResponse {
    var response = answer
    if response.status != 204 && response.status != 304 {
      response.headers.append(.init("Content-Length", String(response.body.count)))
    }
    // Every answer may be sent gzip-coded: listings by the responder, other JSON of 1 KiB and
    // more by nginx (whose own Vary is off, so that the client sees this one header once).
    response.headers.append(Self.varyAcceptEncoding)
    if request.method == "HEAD" { response.body = [] }
    return response
  }

  static func errorResponse(_ error: APIError) -> APIResponse {
    APIResponse(status: error.status, headers: [jsonContentType] + error.headers, body: error.body)
  }

  static let jsonContentType = APIResponse.Header("Content-Type", "application/json; charset=utf-8")
  static let varyAcceptEncoding = APIResponse.Header("Vary", "Accept-Encoding")
  static let readMethods: Set<String> = ["GET", "HEAD"]

  private func route(_ request: APIRequest, logger: Logger) throws -> APIResponse {
    if let problem = request.targetProblem {
      if case .differsFromMatchedPath(let matched) = problem {
        logger.warning(
          "refused \(request.method) \(request.path): nginx matched \(matched)", metadata: ["event": "path_refused"])
      }
      throw APIError.invalidPath(request.path, problem)
    }
    let identity = try authenticate(request.caller, logger: logger)
    let granted = configuration.policy.permissions(for: identity.roles)
    let needed: Permissions = Self.readMethods.contains(request.method) ? .read : .write
    guard granted.contains(needed) else { throw APIError.forbidden(identity.user, needs: needed) }
    let context = RequestContext(request: request, identity: identity, permissions: granted)

    switch Route(path: request.path) {
    case .collection(let extraQuery):
      switch request.method {
      case "GET", "HEAD": return try list(context, extraQuery: extraQuery)
      case "POST": return try create(context)
      default:
        throw APIError.methodNotAllowed(
          request.method, allowed: ["GET", "HEAD", "POST"],
          reason: "the collection is listed with GET and added to with POST")
      }
    case .contact(let id):
      switch request.method {
      case "GET", "HEAD": return try read(context, id: id)
      case "PUT": return try update(context, id: id)
      case "DELETE": return try delete(context, id: id)
      default:
        // The method is refused either way; 404 still comes first for a contact that is not there.
        let contact = try existing(id, in: repository.currentState(), path: request.path)
        throw Self.methodNotAllowed(request.method, for: contact.contact)
      }
    case .changes:
      guard Self.readMethods.contains(request.method) else {
        throw APIError.methodNotAllowed(request.method, allowed: ["GET", "HEAD"], reason: "the change feed is read")
      }
      return try changes(context)
    case .events:
      guard request.method == "GET" else {
        throw APIError.methodNotAllowed(
          request.method, allowed: ["GET"], reason: "events are a stream a client opens with GET")
      }
      try rejectOversizedBody(request)
      return try events(context)
    case .bulk:
      guard request.method == "POST" else {
        throw APIError.methodNotAllowed(request.method, allowed: ["POST"], reason: "bulk changes are sent with POST")
      }
      return try bulk(context)
    case .history(let id):
      // Admins only: who changed what is not an agent's business.
      guard granted.contains(.write) else { throw APIError.forbidden(identity.user, needs: .write) }
      guard Self.readMethods.contains(request.method) else {
        // 404 still comes first, for an id that never existed.
        guard try repository.history(of: id) != nil else { throw APIError.notFound(request.path) }
        throw APIError.methodNotAllowed(request.method, allowed: ["GET", "HEAD"], reason: "the history is read")
      }
      return try history(context, id: id)
    case .unknown:
      throw APIError.notFound(request.path)
    }
  }

  private func authenticate(_ caller: CallerIdentity, logger: Logger) throws(APIError) -> Identity {
    switch caller {
    case .anonymous: throw APIError.unauthenticated
    case .misconfigured(let detail):
      logger.error("refused a request: \(detail)", metadata: ["event": "server_misconfigured"])
      throw APIError.misconfigured(detail)
    case .authenticated(let identity): return identity
    }
  }

  func existing(_ id: String, in state: DirectoryState, path: String) throws(APIError) -> IndexedContact {
    guard let contact = state.contact(id: id) else { throw APIError.notFound(path) }
    return contact
  }

  static func methodNotAllowed(_ method: String, for contact: Contact) -> APIError {
    if contact.type == .custom {
      return APIError.methodNotAllowed(
        method, allowed: ["GET", "HEAD", "PUT", "DELETE"], reason: "a custom contact is read, replaced or deleted")
    }
    return APIError.methodNotAllowed(
      method, allowed: ["GET", "HEAD"],
      reason: "\(contact.type.rawValue) contacts come from the contact-center directory and are read-only")
  }

  /// The headers every successful read carries.
  func readHeaders(etag: String, permissions: Permissions) -> [APIResponse.Header] {
    [
      Self.jsonContentType,
      .init("ETag", etag),
      .init("Cache-Control", "private, no-cache"),
      .init("X-Contacts-Permissions", permissions.description),
    ]
  }

  /// 412 or 304 as RFC 9110 §13.2.2 orders them: `If-Match` first, then `If-None-Match`.
  ///
  /// - Parameters:
  ///   - etag: the current tag (of the identity bytes); `nil` when there is nothing.
  ///   - gzipTag: for a resource also sent gzip-coded (a listing), the tag of those bytes.
  ///     `If-Match` compares with it as with `etag`, whatever the request accepts: both name the
  ///     data as it is now, and neither a 412 nor a 200 serves stored bytes. `If-None-Match`
  ///     only when the request `acceptsGzip`: a 304 carries the tag that matched, and a 304
  ///     naming the gzip tag tells a cache to serve the gzip bytes it stored, which a request
  ///     that does not accept gzip must never get (docs/decisions.md).
  /// - Returns: a 304 response for a read whose `If-None-Match` matched, else `nil` (go on).
  func evaluatePreconditions(
    _ context: RequestContext, etag: String?, gzipTag: String? = nil, acceptsGzip: Bool = false
  ) throws(APIError) -> APIResponse? {
    let request = context.request
    if let ifMatch = request.ifMatch {
      guard let etag,
        EntityTag.matches(ifMatch, current: etag) || gzipTag.map({ EntityTag.matches(ifMatch, current: $0) }) == true
      else { throw APIError.preconditionFailed }
    }
    guard let ifNoneMatch = request.ifNoneMatch, let etag else { return nil }
    // The gzip tag first: when a cache lists both, the smaller bytes are the ones to serve.
    let candidates = acceptsGzip ? [gzipTag, etag].compactMap { $0 } : [etag]
    guard let matched = EntityTag.firstMatch(ifNoneMatch, among: candidates, forStar: etag) else { return nil }
    guard Self.readMethods.contains(request.method) else { throw APIError.preconditionFailedNoneMatch }
    var headers = readHeaders(etag: matched, permissions: context.permissions)
    headers.removeFirst()  // a 304 has no body, so no Content-Type
    return APIResponse(status: 304, headers: headers)
  }
}

/// What a handler needs besides the request: who asked and what they may do.
struct RequestContext {
  var request: APIRequest
  var identity: Identity
  var permissions: Permissions
}

/// The resources under `/contacts`.
enum Route: Equatable {
  /// `/contacts`, or the seed's `/contacts&a=b` form with `a=b` as extra query.
  case collection(extraQuery: String)
  case contact(id: String)
  /// `/contacts/_changes`: the change feed.
  case changes
  /// `/contacts/_events`: pushed events (held by nginx; the responder authorizes).
  case events
  /// `/contacts/_bulk`: many changes in one request.
  case bulk
  /// `/contacts/{id}/history`: a custom contact's audit history.
  case history(id: String)
  case unknown

  /// The paths under `/contacts/_…` that exist; ids beginning with `_` are reserved for them.
  static let reserved: [String: Route] = ["_changes": .changes, "_events": .events, "_bulk": .bulk]

  init(path: String) {
    if path == "/contacts" {
      self = .collection(extraQuery: "")
    } else if path.hasPrefix("/contacts&") {
      self = .collection(extraQuery: String(path.dropFirst("/contacts&".count)))
    } else if path.hasPrefix("/contacts/") {
      var segment = path.dropFirst("/contacts/".count)
      if segment.hasSuffix("/history") {
        let idPart = segment.dropLast("/history".count)
        guard !idPart.isEmpty, !idPart.contains("/"), let id = PercentEncoding.decode(idPart, plusIsSpace: false),
          !id.hasPrefix("_")
        else {
          self = .unknown
          return
        }
        self = .history(id: id)
        return
      }
      segment = segment[...]
      guard !segment.isEmpty, !segment.contains("/"), let id = PercentEncoding.decode(segment, plusIsSpace: false)
      else {
        self = .unknown
        return
      }
      if id.hasPrefix("_") {
        self = Self.reserved[id] ?? .unknown
        return
      }
      self = .contact(id: id)
    } else {
      self = .unknown
    }
  }
}
