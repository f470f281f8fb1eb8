import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A response as the client (or curl) received it.
public struct HTTPResponse: Sendable, CustomStringConvertible {
  public var status: Int
  public var headers: [(name: String, value: String)]
  public var body: [UInt8]
  /// The version from the status line: "1.1", "2".
  public var httpVersion = ""

  public func header(_ name: String) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
  }

  public var text: String { String(decoding: body, as: UTF8.self) }

  /// The body parsed as a JSON object (Foundation), or `nil`.
  public var json: [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
  }

  /// The `contacts` array of a listing.
  public var contacts: [[String: String]] {
    (json?["contacts"] as? [[String: Any]])?.map { $0.compactMapValues { $0 as? String } } ?? []
  }

  public var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
  public var errorFields: [String] {
    ((json?["error"] as? [String: Any])?["fields"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
  }

  public var description: String { "\(status) \(headers.map { "\($0.name): \($0.value)" }) \(text.prefix(400))" }
}

public struct HTTPClientError: Error, CustomStringConvertible {
  public var description: String
  public init(description: String) { self.description = description }
}

/// HTTP/1.1 over a plain TCP connection to 127.0.0.1, one request per connection, headers sent
/// exactly as given (duplicates, underscores and all): what a hostile client can send.
public struct HTTPClient: Sendable {
  public let port: UInt16

  public init(port: UInt16) { self.port = port }

  public func request(
    _ method: String, _ target: String, user: String? = nil, headers: [(String, String)] = [],
    body: [UInt8]? = nil, contentType: String? = "application/json"
  ) throws -> HTTPResponse {
    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    if let user {
      head += "Authorization: Basic \(Data("\(user):\(user)".utf8).base64EncodedString())\r\n"
    }
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    if let body {
      if let contentType { head += "Content-Type: \(contentType)\r\n" }
      head += "Content-Length: \(body.count)\r\n"
    }
    head += "\r\n"
    var bytes = Array(head.utf8)
    if let body { bytes += body }
    let raw = try exchange(bytes)
    return try Self.parse(raw, method: method)
  }

  /// Convenience: a JSON body from a string.
  public func request(
    _ method: String, _ target: String, user: String? = nil, headers: [(String, String)] = [], json: String,
    contentType: String? = "application/json"
  ) throws -> HTTPResponse {
    try request(method, target, user: user, headers: headers, body: Array(json.utf8), contentType: contentType)
  }

  private func exchange(_ bytes: [UInt8]) throws -> [UInt8] {
    let fd = try connectedLoopbackSocket(port: port, timeoutSeconds: 30)
    defer { close(fd) }
    sendAll(fd, bytes)
    return receiveUntilClosed(fd)
  }

  /// Parses a raw HTTP/1.x response (head, then a plain or chunked body).
  public static func parse(_ raw: [UInt8], method: String) throws -> HTTPResponse {
    guard let end = raw.firstRange(of: Array("\r\n\r\n".utf8)) else {
      throw HTTPClientError(description: "no complete response: \(String(decoding: raw, as: UTF8.self))")
    }
    let head = String(decoding: raw[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let statusParts = head[0].split(separator: " ")
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
      throw HTTPClientError(description: "bad status line \(head[0])")
    }
    let headers = head.dropFirst().compactMap { line -> (name: String, value: String)? in
      guard let colon = line.firstIndex(of: ":") else { return nil }
      return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    var body = Array(raw[end.upperBound...])
    if headers.contains(where: { $0.name.lowercased() == "transfer-encoding" && $0.value.lowercased() == "chunked" }) {
      body = dechunk(body)
    }
    if method == "HEAD" { body = [] }
    let version = String(statusParts[0].dropFirst("HTTP/".count))
    return HTTPResponse(status: status, headers: headers, body: body, httpVersion: version)
  }

  static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
    var result: [UInt8] = []
    var index = 0
    while index < bytes.count {
      guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else { break }
      let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0]
      guard let size = Int(sizeText, radix: 16), size > 0 else { break }
      let start = lineEnd.upperBound
      result += bytes[start..<min(start + size, bytes.count)]
      index = start + size + 2
    }
    return result
  }
}

/// Runs curl (`-sS -i --max-time 10` and `arguments`): for what the raw client cannot do, TLS
/// with client certificates, HTTP/2, protocol versions.
///
/// - Returns: the response, its `httpVersion` as curl reports it.
/// - Throws: if curl fails (no response at all).
public func curl(_ arguments: [String]) throws -> HTTPResponse {
  let result = try runCommand("/usr/bin/curl", ["-sS", "-i", "--max-time", "10"] + arguments)
  guard result.status == 0 else { throw HTTPClientError(description: "curl \(arguments): \(result.errors)") }
  // curl has already decoded any chunking; the head is parsed as the raw client does.
  return try HTTPClient.parse(Array(result.output.utf8), method: "GET")
}
