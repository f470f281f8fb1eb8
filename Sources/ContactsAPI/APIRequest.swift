public import ContactsCore

/// Who the trusted params say the caller is.
public enum CallerIdentity: Equatable, Sendable {
  /// No `REMOTE_USER` (or an empty one): nobody authenticated → 401.
  case anonymous
  /// The params nginx must set are missing or repeated: nginx is misconfigured; fail closed.
  case misconfigured(String)
  /// An authenticated user and the roles nginx passed.
  case authenticated(Identity)
}

/// A request as the API sees it: no sockets, no FastCGI.
public struct APIRequest: Sendable {
  public var method: String
  /// The path of the request target, still percent-encoded, without the query.
  public var path: String
  /// The query, still percent-encoded, without the `?`.
  public var query: String
  /// The path nginx matched its location on (`DOCUMENT_URI`: decoded, normalized), when it
  /// sent one. The API refuses a `path` that does not decode to it (see `RequestTarget`).
  public var matchedPath: String?
  /// nginx asks whether this caller may open the event stream (`nchan_authorize_request`): the
  /// answer is 204 or the error, never a stream.
  public var authorizesEvents = false
  /// nginx serves event streams (nchan), but sent this request here: not an EventSource GET.
  public var eventsAvailable = false
  /// The `Idempotency-Key` header of a `POST`, as sent.
  public var idempotencyKey: String?
  /// The `Content-Encoding` header, as sent (`nil` when absent or empty).
  public var contentEncoding: String?
  public var caller: CallerIdentity
  public var contentType: String?
  public var ifMatch: String?
  public var ifNoneMatch: String?
  /// The `Accept-Encoding` header, as sent (`nil` when absent or empty: no coding).
  public var acceptEncoding: String?
  public var body: [UInt8]
  /// The body was longer than the limit and was not read.
  public var bodyExceededLimit: Bool

  public init(
    method: String, target: String, matchedPath: String? = nil, caller: CallerIdentity, contentType: String? = nil,
    ifMatch: String? = nil, ifNoneMatch: String? = nil, acceptEncoding: String? = nil, body: [UInt8] = [],
    bodyExceededLimit: Bool = false
  ) {
    self.method = method
    self.matchedPath = matchedPath
    if let question = target.firstIndex(of: "?") {
      path = String(target[..<question])
      query = String(target[target.index(after: question)...])
    } else {
      path = target
      query = ""
    }
    self.caller = caller
    self.contentType = contentType
    self.ifMatch = ifMatch
    self.ifNoneMatch = ifNoneMatch
    self.acceptEncoding = acceptEncoding
    self.body = body
    self.bodyExceededLimit = bodyExceededLimit
  }
}

/// A response: status, headers in order, body.
public struct APIResponse: Sendable, Equatable {
  public var status: Int
  public var headers: [Header]
  public var body: [UInt8]

  /// One response header: name and value, sent in order.
  public struct Header: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
      self.name = name
      self.value = value
    }
  }

  public init(status: Int, headers: [Header] = [], body: [UInt8] = []) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// The first value of header `name` (case-insensitive).
  public func header(_ name: String) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
  }

  /// The body as text, for tests and logs.
  public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

extension APIRequest {
  /// What is wrong with the path, if routing on it could disagree with the location nginx chose.
  public var targetProblem: RequestTarget.Problem? {
    RequestTarget.problem(rawPath: path, matchedPath: matchedPath)
  }
}
