import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What nginx itself must hold up against, through the local stack: one client holding
/// thousands of idle connections, and malformed requests that nginx answers before (or instead
/// of) the responder.
@Suite(.serialized)
struct NginxHardeningTests {
  /// 2,500 idle connections (more than the old 1,024 worker_connections per worker) from one
  /// client, each with half a request: another client is still served at once, and nginx
  /// closes the idle ones after client_header_timeout.
  @Test func idleConnectionsFromOneClientDoNotLockOthersOut() throws {
    let stack = try LocalStack()
    let count = 2_500
    try raiseDescriptorLimit(to: rlim_t(count + 512))
    var idle: [Int32] = []
    defer { for fd in idle { close(fd) } }
    // Each starts a request and never finishes its headers (slowloris): nginx cannot reclaim
    // such a connection for others as it does one that has sent nothing yet, and limit_conn
    // does not count it (it counts requests whose headers have arrived).
    let partial = Array("GET /contacts HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8)
    for _ in 0..<count {
      guard let fd = connectToLoopback(port: stack.httpPort, timeoutSeconds: 2) else { break }
      idle.append(fd)
      _ = send(fd, partial, partial.count, Int32(MSG_NOSIGNAL))
    }
    #expect(idle.count == count, "only \(idle.count) connections could be opened")

    let started = Date()
    let raw = rawExchange(
      port: stack.httpPort,
      Array(
        "GET /contacts/user-joej HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YWdlbnQ6YWdlbnQ=\r\nConnection: close\r\n\r\n"
          .utf8),
      timeoutSeconds: 5)
    let answer = try? HTTPClient.parse(raw, method: "GET")
    #expect(answer?.status == 200, "no answer while \(idle.count) idle connections were open: \(raw.count) bytes")
    #expect(Date().timeIntervalSince(started) < 2)

    // nginx drops connections that send no (complete) request within client_header_timeout (10 s).
    let closedByServer = eventually(within: 15) { isClosedByPeer(idle[0]) && isClosedByPeer(idle[count - 1]) }
    #expect(closedByServer, "idle connections were not closed by nginx within 15 s")
    withExtendedLifetime(stack) {}
  }

  /// limit_conn: a client address (here made remote with the real-IP module, as behind a proxy)
  /// gets at most 100 requests in progress at once; the 101st is a JSON 429 saying so, and
  /// another address, or the machine itself, is not affected.
  @Test func requestsInProgressPerClientAddressAreLimited() throws {
    let directory = TemporaryDirectory("contacts-limits")
    let pool = try ResponderPool(in: directory)
    let nginx = try OwnNginx(
      in: directory, socket: pool.socketPath, variant: .basic,
      extraServerConfig: """
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        """)
    func upload(from address: String) -> [UInt8] {
      // Headers complete, body never sent: the request stays in progress (limit_conn counts it).
      Array(
        ("POST /contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n"
          + "X-Forwarded-For: \(address)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n").utf8)
    }
    var held: [Int32] = []
    defer { for fd in held { close(fd) } }
    for _ in 0..<100 {
      guard let fd = connectToLoopback(port: nginx.port, timeoutSeconds: 2) else { break }
      held.append(fd)
      let bytes = upload(from: "203.0.113.7")
      _ = send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }
    #expect(held.count == 100)
    usleep(200_000)  // nginx has read every one of them
    let list =
      "GET /contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YWdlbnQ6YWdlbnQ=\r\nConnection: close\r\n"
    let refused = try HTTPClient.parse(
      rawExchange(port: nginx.port, Array("\(list)X-Forwarded-For: 203.0.113.7\r\n\r\n".utf8)), method: "GET")
    #expect(refused.status == 429 && refused.errorCode == "too_many_requests", "\(refused)")
    #expect((refused.json?["error"] as? [String: Any])?["message"] as? String == Self.connectionLimitMessage)
    #expect(refused.header("Content-Type") == "application/json; charset=utf-8")
    let other = try HTTPClient.parse(
      rawExchange(port: nginx.port, Array("\(list)X-Forwarded-For: 203.0.113.8\r\n\r\n".utf8)), method: "GET")
    #expect(other.status == 200, "\(other)")
    let local = try HTTPClient.parse(rawExchange(port: nginx.port, Array("\(list)\r\n".utf8)), method: "GET")
    #expect(local.status == 200, "\(local)")
    withExtendedLifetime((directory, pool, nginx)) {}
  }

  static let connectionLimitMessage =
    "Too many requests from this address at once; wait for some to finish and retry."

  /// What nginx rejects itself, much of it before it picks a location, comes back as the API's
  /// JSON error body with the JSON content type, never as nginx's HTML page.
  @Test func errorsNginxAnswersItselfAreJSON() throws {
    let stack = try LocalStack()
    let host = "Host: 127.0.0.1\r\nConnection: close\r\n"
    let agent = "Authorization: Basic YWdlbnQ6YWdlbnQ=\r\n"
    let cases: [(request: String, status: Int, code: String?)] = [
      ("TRACE /contacts HTTP/1.1\r\n\(host)\r\n", 405, "method_not_allowed"),
      ("TRACE /contacts HTTP/1.1\r\n\(host)\(agent)\r\n", 405, "method_not_allowed"),
      ("GET /contacts/..%2f..%2fetc HTTP/1.1\r\n\(host)\r\n", 400, "bad_request"),
      ("GET /contacts/../../etc/passwd HTTP/1.1\r\n\(host)\(agent)\r\n", 400, "bad_request"),
      ("GET /contacts?q=\(String(repeating: "a", count: 20_000)) HTTP/1.1\r\n\(host)\(agent)\r\n", 414, "uri_too_long"),
      (
        "POST /contacts HTTP/1.1\r\n\(host)\(agent)Content-Type: application/json\r\nContent-Length: 2\r\n"
          + "Content-Length: 2\r\n\r\n{}", 400, "bad_request"
      ),
      ("GARBAGE\r\n\r\n", 400, "bad_request"),
      ("GET /contacts HTTP/1.1 trailing-garbage\r\n\(host)\r\n", 400, "bad_request"),
      ("G@T /contacts HTTP/1.1\r\n\(host)\r\n", 400, "bad_request"),
      (
        "GET /contacts HTTP/1.1\r\n\(host)X-Big: \(String(repeating: "b", count: 40_000))\r\n\r\n", 400,
        "request_header_too_large"
      ),
      ("GET /contacts HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "bad_request"),
      ("GET /contacts HTTP/1.1\r\n\(host)\(agent)Host: evil.example\r\n\r\n", 400, "bad_request"),
      ("GET /contacts HTTP/7.1\r\n\(host)\r\n", 505, "http_version_not_supported"),
      ("POST /contacts HTTP/1.1\r\n\(host)\(agent)Transfer-Encoding: gzip\r\n\r\n{}", 501, "not_implemented"),
      ("GET /dashboard/no-such-file.js HTTP/1.1\r\n\(host)\(agent)\r\n", 404, "not_found"),
      ("GET /_contacts/errors/400 HTTP/1.1\r\n\(host)\(agent)\r\n", 404, "not_found"),
      ("DELETE /dashboard/index.html HTTP/1.1\r\n\(host)\(agent)\r\n", 405, "method_not_allowed"),
    ]
    var problems: [String] = []
    for (request, status, code) in cases {
      let raw = rawExchange(port: stack.httpPort, Array(request.utf8))
      let summary = "\(request.prefix(60).debugDescription) → \(String(decoding: raw.prefix(400), as: UTF8.self))"
      guard let response = try? HTTPClient.parse(raw, method: "GET") else {
        problems.append("no HTTP answer: \(summary)")
        continue
      }
      if response.status != status { problems.append("status \(response.status), not \(status): \(summary)") }
      if response.header("Content-Type") != "application/json; charset=utf-8" {
        problems.append("content type \(response.header("Content-Type") ?? "none"): \(summary)")
      }
      let error = response.json?["error"] as? [String: Any]
      let message = error?["message"] as? String ?? ""
      if response.errorCode == nil || message.isEmpty || (code != nil && response.errorCode != code) {
        problems.append("not the JSON error body\(code.map { " with \($0)" } ?? ""): \(summary)")
      }
    }
    // Plain HTTP to the HTTPS port.
    let plain = try? HTTPClient.parse(
      rawExchange(port: stack.httpsPort, Array("GET /contacts HTTP/1.1\r\n\(host)\r\n".utf8)), method: "GET")
    if plain?.status != 400 || plain?.errorCode != "https_required" {
      problems.append("plain HTTP to the HTTPS port: \(plain.map(String.init(describing:)) ?? "no answer")")
    }
    #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    withExtendedLifetime(stack) {}
  }
}

// MARK: - Raw sockets

/// Raises this process's soft descriptor limit to at least `needed` (up to the hard limit).
func raiseDescriptorLimit(to needed: rlim_t) throws {
  var limit = rlimit()
  getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
  guard limit.rlim_cur < needed else { return }
  guard limit.rlim_max >= needed else {
    throw HTTPClientError(description: "RLIMIT_NOFILE's hard limit \(limit.rlim_max) is below \(needed)")
  }
  limit.rlim_cur = needed
  guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
    throw HTTPClientError(description: "setrlimit(RLIMIT_NOFILE, \(needed)): errno \(errno)")
  }
}

/// A TCP connection to 127.0.0.1:`port`, or nil if it cannot be made within the timeout.
func connectToLoopback(port: UInt16, timeoutSeconds: Int) -> Int32? {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return nil }
  var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
  // On Linux a blocking connect gives up after SO_SNDTIMEO.
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = port.bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard connected == 0 else {
    close(fd)
    return nil
  }
  return fd
}

/// Sends `bytes` on a new connection and reads until the server closes it or `timeoutSeconds`
/// pass without data; whatever arrived (empty if nothing did).
func rawExchange(port: UInt16, _ bytes: [UInt8], timeoutSeconds: Int = 10) -> [UInt8] {
  guard let fd = connectToLoopback(port: port, timeoutSeconds: timeoutSeconds) else { return [] }
  defer { close(fd) }
  var sent = 0
  while sent < bytes.count {
    let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    if count <= 0 { break }  // nginx may answer and close before reading everything
    sent += count
  }
  var response: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = recv(fd, &buffer, buffer.count, 0)
    if count <= 0 { break }
    response += buffer[0..<count]
  }
  return response
}

/// Whether the peer has closed `fd` (EOF or reset), without waiting.
func isClosedByPeer(_ fd: Int32) -> Bool {
  var byte: UInt8 = 0
  let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
  return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
}
