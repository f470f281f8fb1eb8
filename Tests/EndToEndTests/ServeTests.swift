import Foundation
import Platform
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The walking skeleton through a real nginx: authentication, trusted params, the worker pool's
/// life cycle. Serialized: these tests time restarts and must not compete with each other.
@Suite(.serialized, .tags(.endToEnd))
struct ServeTests {
  @Test func agentListsContactsThroughNginxGuestIsForbiddenAnonymousIsChallenged() throws {
    let stack = try LocalStack()
    let agent = try stack.client.request("GET", "/contacts", user: "agent")
    #expect(agent.status == 200)
    #expect(agent.header("Content-Type") == "application/json; charset=utf-8")
    #expect(agent.contacts.contains { $0["id"] == "queue-sales" })

    let anonymous = try stack.client.request("GET", "/contacts")
    #expect(anonymous.status == 401)
    #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Basic") == true)
    #expect(anonymous.errorCode == "unauthenticated")

    let guest = try stack.client.request("GET", "/contacts", user: "guest")
    #expect(guest.status == 403)
    #expect(guest.errorCode == "forbidden")
  }

  static let spoofedHeaders: [[(String, String)]] = [
    [("X-Remote-Roles", "Contact Center Admin")],
    [("X-Remote-User", "admin"), ("X-Remote-Roles", "Contact Center Admin")],
    [("Contacts-Roles", "Contact Center Admin")],
    [("X_Contacts_Roles", "Contact Center Admin")],
    [("Contacts_Roles", "Contact Center Admin"), ("Remote_User", "admin")],
    [("Contacts-Roles", "Agent"), ("Contacts-Roles", "Contact Center Admin")],
    [("CONTACTS-ROLES", "Contact Center Admin"), ("X-Contacts-Roles", "Contact Center Admin")],
  ]

  /// A client header can never become a role, in the normal location, in one that adds
  /// `fastcgi_param`s of its own, and with no credentials at all.
  @Test func clientHeadersNeverGrantRoles() throws {
    let ownParamsPort = freePort()
    let stack = try LocalStack(
      extraHTTPConfig: LocalStack.basicAuthServer(
        port: ownParamsPort,
        contactsLocation: """
          include snippets/contacts-params.conf;
          fastcgi_param CONTACTS_DEPLOYMENT "own-params";
          fastcgi_param HTTP_X_REMOTE_ROLES "Contact Center Admin";
          fastcgi_pass contacts_fcgi;
          """))
    let body = Array(#"{"name":"Spoof","phoneNumber":"555"}"#.utf8)
    for client in [stack.client, HTTPClient(port: ownParamsPort)] {
      for headers in Self.spoofedHeaders {
        let guestRead = try client.request("GET", "/contacts", user: "guest", headers: headers)
        #expect(guestRead.status == 403, "\(headers) on port \(client.port): \(guestRead)")
        let agentWrite = try client.request("POST", "/contacts", user: "agent", headers: headers, body: body)
        #expect(agentWrite.status == 403, "\(headers) on port \(client.port): \(agentWrite)")
        let anonymous = try client.request("GET", "/contacts", headers: headers)
        #expect(anonymous.status == 401, "\(headers) on port \(client.port): \(anonymous)")
      }
      // The location that adds its own params still passes the real identity.
      #expect(try client.request("GET", "/contacts", user: "agent").status == 200)
    }
    let contacts = try stack.client.request("GET", "/contacts?type=Custom", user: "admin").contacts
    #expect(contacts.isEmpty)
  }

  /// A location that forgot the params snippet reaches the responder without REMOTE_USER or
  /// CONTACTS_ROLES: it must fail closed, never answer 200.
  @Test func responderWithoutTrustedParamsFailsClosed() throws {
    let noSnippetPort = freePort()
    let noRolesPort = freePort()
    let stack = try LocalStack(
      extraHTTPConfig: LocalStack.basicAuthServer(
        port: noSnippetPort,
        contactsLocation: """
          fastcgi_param REQUEST_METHOD $request_method;
          fastcgi_param REQUEST_URI $request_uri;
          fastcgi_pass contacts_fcgi;
          """)
        + "\n"
        + LocalStack.basicAuthServer(
          port: noRolesPort,
          contactsLocation: """
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_pass contacts_fcgi;
            """))
    let noSnippet = try HTTPClient(port: noSnippetPort).request(
      "GET", "/contacts", user: "admin", headers: [("Contacts-Roles", "Contact Center Admin")])
    #expect(noSnippet.status == 401)
    let noRoles = try HTTPClient(port: noRolesPort).request(
      "GET", "/contacts", user: "admin", headers: [("Contacts-Roles", "Contact Center Admin")])
    #expect(noRoles.status == 500)
    #expect(noRoles.errorCode == "server_misconfigured")
    #expect(stack.log().contains("CONTACTS_ROLES"))
  }

  /// Trusted params sent twice (a location that includes the snippet and sets them again):
  /// the responder cannot tell which is meant and refuses, whatever the values.
  @Test(arguments: ["REMOTE_USER", "CONTACTS_ROLES"])
  func trustedParamSentTwiceFailsClosed(param: String) throws {
    let stack = try LocalStack(workers: 1)
    let client = try FastCGIClient(socketPath: stack.socketPath)
    client.send(FastCGIClient.beginRequest)
    client.send(
      FastCGIClient.params([
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/contacts"), ("REMOTE_USER", "agent"),
        ("CONTACTS_ROLES", "Agent"), (param, param == "REMOTE_USER" ? "admin" : "Contact Center Admin"),
      ]))
    client.send(FastCGIClient.params([]))
    client.send(FastCGIClient.record(type: 5, content: []))
    let answer = client.readStdout()
    #expect(answer.hasPrefix("Status: 500"), "\(answer)")
    #expect(answer.contains("server_misconfigured"))
  }

  @Test func killedWorkerIsReplacedWithinASecondAndServiceContinues() throws {
    let stack = try LocalStack(workers: 3)
    let before = stack.workerPIDs()
    #expect(before.count == 3)
    let victim = before[1]
    kill(victim, SIGKILL)
    let killedAt = Date()
    var served = 0
    for _ in 0..<50 {
      let response = try stack.client.request("GET", "/contacts/queue-sales", user: "agent")
      #expect(response.status == 200)
      if response.status == 200 { served += 1 }
    }
    #expect(served == 50)
    let replaced = eventually(within: 1 - Date().timeIntervalSince(killedAt)) {
      let now = stack.workerPIDs()
      return now.count == 3 && !now.contains(victim)
    }
    #expect(replaced, "workers now: \(stack.workerPIDs()), log: \(stack.log())")
    #expect(stack.log().contains("killed by signal 9"))
  }

  /// libfcgi 2.4.2 aborts on a PARAMS record with huge name and value lengths; the damage must
  /// stay within one worker, which is replaced.
  @Test func craftedParamsRecordKillsAtMostOneWorker() throws {
    let stack = try LocalStack(workers: 3)
    let before = Set(stack.workerPIDs())
    let attacker = try FastCGIClient(socketPath: stack.socketPath)
    attacker.send(FastCGIClient.beginRequest)
    attacker.send(FastCGIClient.record(type: 4, content: [0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFE]))
    _ = attacker.readStdout()
    let recovered = eventually(within: 5) { stack.workerPIDs().count == 3 }
    #expect(recovered)
    let after = Set(stack.workerPIDs())
    #expect(before.subtracting(after).count <= 1)
    for _ in 0..<20 {
      #expect(try stack.client.request("GET", "/contacts", user: "agent").status == 200)
    }
  }

  /// SIGTERM while a request is in flight: it completes, then everything exits 0.
  @Test func sigtermLetsTheInFlightRequestFinish() throws {
    let stack = try LocalStack(workers: 2)
    let slow = try FastCGIClient(socketPath: stack.socketPath)
    let body = Array(#"{"name":"Slow Poke","phoneNumber":"555 0100"}"#.utf8)
    slow.send(FastCGIClient.beginRequest)
    slow.send(
      FastCGIClient.params([
        ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/contacts"), ("REMOTE_USER", "admin"),
        ("CONTACTS_ROLES", "Contact Center Admin"), ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", String(body.count)),
      ]))
    slow.send(FastCGIClient.params([]))
    slow.send(FastCGIClient.record(type: 5, content: Array(body[..<10])))  // half the body
    // The worker is now inside the request, waiting for the rest: both workers are busy, that
    // one and the one answering the status request.
    try #require(
      eventually { (try? stack.workerCounts().active) == 2 }, "the slow request never reached a worker: \(stack.log())")

    let supervisor = try #require(stack.supervisor)
    supervisor.terminate()
    // The supervisor has acted on SIGTERM: it says so, and the idle worker has gone.
    try #require(
      eventually { stack.log().contains("\"stopping\"") && stack.workerPIDs().count == 1 },
      "the supervisor did not start stopping: \(stack.log())")
    #expect(supervisor.isRunning, "the supervisor waits for the in-flight request")
    slow.send(FastCGIClient.record(type: 5, content: Array(body[10...])))
    slow.send(FastCGIClient.record(type: 5, content: []))
    let response = slow.readStdout()
    #expect(response.hasPrefix("Status: 201"), "\(response)")
    supervisor.waitUntilExit()
    #expect(supervisor.terminationStatus == 0)
    #expect(stack.workerPIDs().isEmpty)
    #expect(!FileManager.default.fileExists(atPath: stack.socketPath))
  }

  /// Requests waiting behind a write are served while its flush is pending, and their answers
  /// held with it: with the one worker stopped, twelve requests queue on its socket (ten creates,
  /// two listings, one create whose client hangs up before its answer). Each answer is the one
  /// its request would get alone: a listing shows exactly the creates before it, because the
  /// worker's state holds them and the listing is held until they are durable; the metrics
  /// show answers held and fewer flushes than answers; the client that went away costs nothing.
  @Test func answersWaitingBehindAWriteAreHeldAndReleasedTogether() throws {
    let stack = try LocalStack(workers: 1, demoData: false)
    let worker = try #require(stack.workerPIDs().first)
    func send(_ client: FastCGIClient, _ method: String, _ target: String, body: String = "") {
      let bytes = Array(body.utf8)
      client.send(FastCGIClient.beginRequest)
      client.send(
        FastCGIClient.params([
          ("REQUEST_METHOD", method), ("REQUEST_URI", target), ("DOCUMENT_URI", "/contacts"),
          ("QUERY_STRING", target.split(separator: "?").dropFirst().first.map(String.init) ?? ""),
          ("REMOTE_USER", "admin"), ("CONTACTS_ROLES", "Contact Center Admin"),
          ("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", String(bytes.count)),
        ]))
      client.send(FastCGIClient.params([]))
      if !bytes.isEmpty { client.send(FastCGIClient.record(type: 5, content: bytes)) }
      client.send(FastCGIClient.record(type: 5, content: []))
    }
    kill(worker, SIGSTOP)
    var requests: [(index: Int, client: FastCGIClient)] = []
    func name(_ index: Int) -> String? { index == 5 || index == 12 ? nil : "Held \(index)" }
    for index in 0..<13 {
      let client = try FastCGIClient(socketPath: stack.socketPath)
      if let name = name(index) {
        send(client, "POST", "/contacts", body: #"{"name":"\#(name)","phoneNumber":"555 0100"}"#)
      } else {
        send(client, "GET", "/contacts?type=Custom")
      }
      if index != 8 { requests.append((index, client)) }  // 8's client hangs up before its answer
    }
    kill(worker, SIGCONT)

    var created: [String] = []
    for (index, client) in requests {
      let answer = client.readStdout()
      if let name = name(index) {
        #expect(answer.hasPrefix("Status: 201"), "\(answer)")
        created.append(name)
      } else {
        #expect(answer.hasPrefix("Status: 200"), "\(answer)")
        let listed = Set(answer.matches(of: /"name":"(Held \d+)"/).map { String($0.1) })
        // Every create sent before it, the one whose client hung up included.
        #expect(listed == Set((0..<index).compactMap(name)), "\(index): \(listed.sorted())")
      }
    }
    #expect(created.count == 10)
    let listing = try stack.client.request("GET", "/contacts?type=Custom", user: "agent")
    #expect(Set(listing.contacts.compactMap { $0["name"] }) == Set(created + ["Held 8"]))
    let page = try MetricsTests.scrape(stack)
    let held = try #require(page.value("contacts_held_answers", "contacts_held_answers_total"))
    let batches = try #require(page.value("contacts_held_batches", "contacts_held_batches_total"))
    #expect(held >= 10, "every create's answer waited for its flush")
    #expect(batches >= 1 && batches < held, "some flush released more than one answer: \(held) in \(batches)")
    #expect(eventually { stack.log().contains("\"client_gone\"") })
    #expect(stack.workerPIDs() == [worker], "the worker serves on")
  }

  /// SIGTERM while clients write as fast as they can: each worker sends the answers it holds
  /// before it exits. Afterwards the stored creates are exactly the acknowledged ones: none that
  /// was answered 201 is missing, and none is stored whose client saw it fail (a held answer
  /// dropped at exit would be one).
  @Test func sigtermUnderWriteLoadSendsEveryHeldAnswerFirst() throws {
    let stack = try LocalStack(workers: 2, demoData: false)
    let client = stack.client
    let stop = StopFlag()
    defer { stop.set() }
    let acknowledgedCount = SharedCounter()
    let failedCount = SharedCounter()
    let writers = (0..<8).map { writer in
      startThread { () -> (acknowledged: [String], failed: [String]) in
        var acknowledged: [String] = []
        var failed: [String] = []
        var index = 0
        while !stop.isSet {
          index += 1
          let name = "W\(writer)-\(index)"
          let body = #"{"name":"\#(name)","phoneNumber":"555 0100"}"#
          if let response = try? client.request("POST", "/contacts", user: "admin", json: body), response.status == 201
          {
            acknowledged.append(name)
            acknowledgedCount.increment()
          } else {
            failed.append(name)
            failedCount.increment()
          }
        }
        return (acknowledged, failed)
      }
    }
    try #require(eventually(within: 20) { acknowledgedCount.value >= 300 }, "the writers did not get going")
    let supervisor = try #require(stack.supervisor)
    supervisor.terminate()
    supervisor.waitUntilExit()
    #expect(supervisor.terminationStatus == 0)
    let failedAfterExit = failedCount.value
    #expect(eventually { failedCount.value >= failedAfterExit + 8 }, "requests meet the stopped pool")
    stop.set()
    let results = writers.map { $0() }
    let acknowledged = Set(results.flatMap(\.acknowledged))
    let failed = Set(results.flatMap(\.failed))

    // Every create written to the journal (or compacted into the snapshot), flushed or not: a
    // held answer dropped at exit leaves its line there, past the watermark.
    var written: Set<String> = []
    for file in ["journal.jsonl", "snapshot.json"] {
      let text = (try? String(contentsOfFile: "\(stack.dataDirectory)/\(file)", encoding: .utf8)) ?? ""
      written.formUnion(text.matches(of: /"name":"(W\d+-\d+)"/).map { String($0.1) })
    }
    #expect(written == acknowledged, "written, not acknowledged: \(written.subtracting(acknowledged).sorted())")

    let after = try LocalStack(workers: 1, demoData: false, dataDirectory: stack.dataDirectory)
    var stored: Set<String> = []
    var offset = 0
    while true {
      let page = try after.client.request("GET", "/contacts?type=Custom&limit=1000&offset=\(offset)", user: "agent")
      try #require(page.status == 200)
      let names = page.contacts.compactMap { $0["name"] }
      stored.formUnion(names)
      if names.count < 1000 { break }
      offset += 1000
    }
    #expect(
      acknowledged.subtracting(stored).isEmpty, "acknowledged and missing: \(acknowledged.subtracting(stored).sorted())"
    )
    #expect(
      stored.intersection(failed).isEmpty, "stored, yet its client saw it fail: \(stored.intersection(failed).sorted())"
    )
    #expect(stored == acknowledged)
  }

  /// SIGHUP replaces every worker while a client keeps requesting: no request fails (a stop
  /// signal reaching libfcgi while it reads a new request's first records would drop it: 502).
  @Test func sighupReplacesEveryWorkerWithoutAFailedRequest() throws {
    let stack = try LocalStack(workers: 2)
    let supervisor = try #require(stack.supervisor)
    let before = Set(stack.workerPIDs())
    let client = stack.client
    let stop = StopFlag()
    defer { stop.set() }
    let served = SharedCounter()
    let looping = startThread { () -> (ok: Int, failed: [String]) in
      var ok = 0
      var failed: [String] = []
      while !stop.isSet {
        do {
          let response = try client.request("GET", "/contacts?type=Queue", user: "agent")
          if response.status == 200 {
            ok += 1
            served.increment()
          } else {
            failed.append("\(response.status)")
          }
        } catch {
          failed.append("\(error)")
        }
      }
      return (ok, failed)
    }
    /// Waits until the client has had `count` more requests answered.
    func requestsKeepComing(_ count: Int = 5) throws {
      let start = served.value
      try #require(eventually { served.value >= start + count }, "no requests are being answered")
    }
    // Three reloads back to back, while requests keep coming: each is sent once the one before
    // has replaced both workers.
    var current = before
    for _ in 0..<3 {
      try requestsKeepComing()
      kill(supervisor.processIdentifier, SIGHUP)
      let previous = current
      let replaced = eventually {
        let now = Set(stack.workerPIDs())
        return now.count == 2 && now.isDisjoint(with: previous)
      }
      try #require(replaced, "SIGHUP did not replace \(previous): \(stack.workerPIDs())")
      current = Set(stack.workerPIDs())
    }
    try requestsKeepComing(10)
    stop.set()
    let result = looping()
    #expect(result.failed.isEmpty, "\(result.failed.count) failed, first: \(result.failed.prefix(3))")
    #expect(result.ok > 20)
    let after = Set(stack.workerPIDs())
    #expect(after.count == 2)
    #expect(after.isDisjoint(with: before), "before \(before), after \(after)")
  }

  /// A body over the limit: 413 with the JSON error body, and the worker goes on serving.
  @Test func bodyOverTheLimitIs413AndWorkersStayHealthy() throws {
    let stack = try LocalStack(workers: 1)
    let pid = stack.workerPIDs()
    let large = Array(repeating: UInt8(ascii: "a"), count: 70_000)
    let response = try stack.client.request("POST", "/contacts", user: "admin", body: large)
    #expect(response.status == 413)
    #expect(response.errorCode == "payload_too_large")
    let huge = Array(repeating: UInt8(ascii: "a"), count: 2_000_000)
    let fromNginx = try stack.client.request("POST", "/contacts", user: "admin", body: huge)
    #expect(fromNginx.status == 413)
    #expect(fromNginx.errorCode == "payload_too_large")
    #expect(try stack.client.request("GET", "/contacts", user: "agent").status == 200)
    #expect(stack.workerPIDs() == pid)
  }

  /// A declared length over nginx's own limit (1 MiB), which nginx refuses while it picks the
  /// location, before it authenticates: the answer still follows the API's order of checks
  /// (401, 403, 404, 405 before 413), and a 413 names the path's own limit. A chunked body
  /// over it, whose first megabyte is a complete bulk request, applies nothing.
  @Test func aBodyOverNginxsLimitIsAnsweredInTheAPIsOrder() throws {
    let stack = try LocalStack(workers: 1)
    let huge = Array(repeating: UInt8(ascii: " "), count: 2_000_000)
    func status(_ method: String, _ path: String, _ user: String?) throws -> HTTPResponse {
      try stack.client.request(method, path, user: user, body: huge)
    }
    let anonymous = try status("POST", "/contacts", nil)
    #expect(anonymous.status == 401 && anonymous.errorCode == "unauthenticated", "\(anonymous.text)")
    let agent = try status("POST", "/contacts/_bulk", "agent")
    #expect(agent.status == 403 && agent.errorCode == "forbidden", "\(agent.text)")
    #expect(try status("PUT", "/contacts/no-such-contact", "admin").status == 404)
    let queue = try status("PUT", "/contacts/queue-support", "admin")
    #expect(queue.status == 405 && queue.header("Allow") == "GET, HEAD", "\(queue.text)")
    let plain = try stack.client.request("POST", "/contacts", user: "admin", body: huge, contentType: "text/plain")
    #expect(plain.status == 415, "\(plain.text)")
    let single = try status("POST", "/contacts", "admin")
    #expect(single.status == 413 && single.text.contains("65536"), "\(single.text)")
    let bulk = try status("POST", "/contacts/_bulk", "admin")
    #expect(bulk.status == 413 && bulk.text.contains("1048576"), "\(bulk.text)")

    let operations = #"{"operations":[{"op":"create","contact":{"name":"Over The Limit","phoneNumber":"555"}}]}"#
    let file = stack.directory.file("chunked.json")
    try (operations + String(repeating: " ", count: 1_100_000)).write(toFile: file, atomically: true, encoding: .utf8)
    let chunked = try curl([
      "-u", "admin:admin", "-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked", "-H", "Expect:",
      "--data-binary", "@\(file)", "http://127.0.0.1:\(stack.httpPort)/contacts/_bulk",
    ])
    #expect(chunked.status == 413, "\(chunked.text) nginx: \(stack.nginxErrors())")
    let listing = try stack.client.request("GET", "/contacts?name=Over%20The%20Limit", user: "agent")
    #expect(listing.status == 200 && listing.text.contains(#""contacts":[]"#), "\(listing.text)")
  }

  /// SIGKILL of the supervisor: its workers notice (their lifeline closes) and exit instead of
  /// holding the socket as orphans; a second `serve` is refused while the pool lives, and after
  /// the kill a new `serve` replaces the stale socket and nginx serves through it at once.
  @Test func workersExitWithTheirSupervisorAndANewServeTakesOverTheSocket() throws {
    let stack = try LocalStack(workers: 2)
    let supervisor = try #require(stack.supervisor)
    // The events publisher (when nginx has nchan) must go with them too.
    let workers = stack.workerPIDs() + (stack.publisherPID().map { [$0] } ?? [])
    #expect(workers.count == (stack.eventsEnabled ? 3 : 2))

    var serveAgain = ["serve", "--socket", stack.socketPath, "--workers", "1", "--data-dir", stack.dataDirectory]
    if let nginxGroup { serveAgain += ["--socket-group", nginxGroup] }
    let refused = try runCommand(serviceBinary, serveAgain)
    #expect(refused.status != 0)
    #expect(refused.errors.contains("belongs to a running server"), "\(refused.errors)")
    #expect(try stack.client.request("GET", "/contacts", user: "agent").status == 200)

    kill(supervisor.processIdentifier, SIGKILL)
    supervisor.waitUntilExit()
    let gone = eventually(within: 3) { workers.allSatisfy { !isRunningProcess($0) } }
    #expect(gone, "workers still running after their supervisor died: \(workers.filter(isRunningProcess))")

    let replacement = Process()
    replacement.executableURL = URL(fileURLWithPath: serviceBinary)
    replacement.arguments = serveAgain
    replacement.standardInput = FileHandle.nullDevice
    replacement.standardError = FileHandle.nullDevice
    try replacement.run()
    defer {
      replacement.terminate()
      replacement.waitUntilExit()
    }
    let serving = eventually(within: 10) {
      (try? stack.client.request("GET", "/contacts", user: "agent"))?.status == 200
    }
    #expect(serving, "the new pool did not take over the stale socket")
  }

  /// libpq is opened on first use: a worker on the data directory never maps it (nor its TLS
  /// and Kerberos dependencies, about 4 MB of resident memory each); one on PostgreSQL does.
  @Test(arguments: StoreKind.allCases)
  func workersMapLibpqOnlyWhenTheyServePostgreSQL(store: StoreKind) throws {
    let stack = try LocalStack(database: store.newDatabase())
    #expect(try stack.client.request("GET", "/contacts", user: "agent").status == 200)
    let workers = stack.workerPIDs()
    #expect(workers.count == 2)
    for pid in workers {
      // cat: Foundation reads a /proc file (size 0) only in part.
      let maps = try runCommand("/bin/cat", ["/proc/\(pid)/maps"]).output
      #expect(maps.contains("/libfcgi.so"), "worker \(pid): \(maps.count) bytes of maps")
      #expect(maps.contains("/libpq.so") == (store == .postgres), "worker \(pid), \(store)")
      // What Debian's libpq brings along (a libpq built without GSSAPI would not, so only the
      // data directory's side is asserted).
      if store == .dataDirectory { #expect(!maps.contains("/libgssapi_krb5.so"), "worker \(pid)") }
    }
  }

  /// Without libpq (here `CONTACTS_LIBPQ` names a file that is not there, or one that is not
  /// libpq), the PostgreSQL commands stop at once with a message naming what is missing.
  @Test func withoutLibpqThePostgreSQLCommandsSayWhatIsMissing() throws {
    let url = "postgresql:///contacts?host=/nonexistent"
    let directory = TemporaryDirectory()
    for (library, expected) in [
      ("/nonexistent/libpq.so.5", "cannot load the PostgreSQL client library /nonexistent/libpq.so.5"),
      ("libz.so.1", "the PostgreSQL client library libz.so.1 has no PQclear"),
    ] {
      let environment = ["CONTACTS_LIBPQ": library]
      let migrate = try runCommand(serviceBinary, ["migrate", "--database-url", url], environment: environment)
      #expect(migrate.status == 1 && migrate.errors.contains(expected), "\(migrate)")
      // `timeout`: a serve that started anyway would fail the test rather than hang it.
      let serve = try runCommand(
        "/usr/bin/timeout",
        ["20", serviceBinary, "serve", "--socket", directory.file("fcgi.sock"), "--database-url", url],
        environment: environment)
      #expect(serve.status == 1 && serve.errors.contains(expected), "\(serve)")
    }
  }
}
