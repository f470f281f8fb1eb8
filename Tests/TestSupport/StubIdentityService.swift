import Foundation

/// A stand-in identity service for `auth_request`: maps a bearer token to X-Contacts-User and
/// X-Contacts-Roles, answers 401 without a known token and 403 for a blocked one. Deliberately
/// naive: it trusts X-Contacts-* request headers, so only nginx's stripping keeps clients out.
///
/// Tokens: agent-token (agent, Agent), admin-token (admin, Contact Center Admin), guest-token
/// (guest, no role), blocked-token (403); any other is unknown (401).
public final class StubIdentityService {
  /// The port it listens on, on 127.0.0.1.
  public let port = freePort()
  private let process: BackgroundProcess
  private let seenPath: String

  /// The service itself: python3's http.server.
  static let script = #"""
    import http.server, json, signal, sys
    # The test runner may start children with SIGTERM blocked; stopping relies on it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    TOKENS = {"agent-token": ("agent", "Agent"), "admin-token": ("admin", "Contact Center Admin"),
              "guest-token": ("guest", "")}
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with open(sys.argv[2], "a") as seen:
                seen.write(json.dumps({"path": self.path, "headers": list(self.headers.keys())}) + "\n")
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            if token == "blocked-token":
                return self.answer(403, {})
            if token not in TOKENS:
                return self.answer(401, {"WWW-Authenticate": 'Bearer realm="contacts"'})
            user, roles = TOKENS[token]
            user = self.headers.get("X-Contacts-User", user)
            roles = self.headers.get("X-Contacts-Roles", roles)
            self.answer(200, {"X-Contacts-User": user, "X-Contacts-Roles": roles})
        def answer(self, status, headers):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *arguments):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """#

  /// Starts the service and waits until it listens; identity.py, identity.log and
  /// identity-seen.jsonl go into `directory`.
  public init(in directory: TemporaryDirectory) throws {
    let scriptPath = directory.file("identity.py")
    try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    seenPath = directory.file("identity-seen.jsonl")
    process = try BackgroundProcess(
      "/usr/bin/env", ["python3", scriptPath, String(port), seenPath], log: directory.file("identity.log"))
    let port = port
    guard eventually(within: 10, { isListening(port: port) }) else {
      throw HTTPClientError(description: "the identity stub did not start: \(process.log())")
    }
  }

  /// The names of every request header the identity service received.
  public func requestHeaderNames() -> Set<String> {
    let lines = ((try? String(contentsOfFile: seenPath, encoding: .utf8)) ?? "").split(separator: "\n")
    return Set(
      lines.flatMap { line -> [String] in
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return object?["headers"] as? [String] ?? []
      })
  }
}
