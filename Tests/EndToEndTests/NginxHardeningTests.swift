import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What nginx itself must hold up against, through the local stack: one client holding
/// thousands of idle connections, and malformed requests that nginx answers before (or instead
/// of) the responder.
@Suite(.serialized, .tags(.endToEnd))
struct NginxHardeningTests {
  /// 2,500 idle connections (more than the old 1,024 worker_connections per worker) from one
  /// client, each with half a request: another client is still served at once, and nginx
  /// closes the idle ones after client_header_timeout.
  @Test func idleConnectionsFromOneClientDoNotLockOthersOut() throws {
    let stack = try LocalStack()
    let count = 2_500
    try raiseDescriptorLimit(to: count + 512)
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
    let deployment = try OwnDeployment(
      "contacts-limits", authentication: .basic,
      extraServerConfig: OwnDeployment.clientAddressFromForwardedFor + "\n" + OwnNginx.stubStatusLocation)
    let nginx = deployment.nginx
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
    // nginx has read the headers of every one of them (and of the status request itself).
    let counted = eventually { (nginx.requestsInProgress() ?? 0) >= 101 }
    #expect(counted, "nginx has \(nginx.requestsInProgress() ?? -1) requests in progress, not 101")
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
    withExtendedLifetime(deployment) {}
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
