/// One request as nginx sent it: every FastCGI param in the order received, and the body.
public struct FastCGIRequest: Sendable {
  /// Params in arrival order; a name may appear more than once.
  public var params: [(name: String, value: String)]
  /// The body, at most the worker's limit.
  public var body: [UInt8]
  /// `true` when the body was longer than the limit; `body` is then empty and was not read.
  public var bodyExceededLimit: Bool

  public init(params: [(name: String, value: String)], body: [UInt8] = [], bodyExceededLimit: Bool = false) {
    self.params = params
    self.body = body
    self.bodyExceededLimit = bodyExceededLimit
  }

  /// The first value of a param, like `FCGX_GetParam`.
  public func param(_ name: String) -> String? {
    params.first { $0.name == name }?.value
  }

  /// Every value sent for a param.
  public func values(of name: String) -> [String] {
    params.filter { $0.name == name }.map(\.value)
  }
}

/// One response: status, headers and body, written as a CGI-style header block.
public struct FastCGIResponse: Sendable {
  public var status: Int
  public var headers: [(name: String, value: String)]
  public var body: [UInt8]

  public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// The head libfcgi sends on the stdout stream before the body: `Status:` line, headers,
  /// blank line. (The body goes out as it is: a cached listing is not copied per request.)
  func head() -> [UInt8] {
    var head = "Status: \(status) \(Self.reasonPhrase(status))\r\n"
    for header in headers { head += "\(header.name): \(header.value)\r\n" }
    head += "\r\n"
    return Array(head.utf8)
  }

  static func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: "OK"
    case 201: "Created"
    case 204: "No Content"
    case 304: "Not Modified"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 406: "Not Acceptable"
    case 409: "Conflict"
    case 412: "Precondition Failed"
    case 413: "Content Too Large"
    case 410: "Gone"
    case 415: "Unsupported Media Type"
    case 422: "Unprocessable Content"
    case 424: "Failed Dependency"
    case 429: "Too Many Requests"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    default: "Status"
    }
  }
}
