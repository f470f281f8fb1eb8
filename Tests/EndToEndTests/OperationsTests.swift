import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What php-fpm users expect: a status page with real counters, ping, request timeouts, a slow
/// log, recycling after N requests.
@Suite(.serialized, .tags(.endToEnd))
struct OperationsTests {
  @Test func statusCountsEveryRequestAndPingAnswers() throws {
    let stack = try LocalStack(workers: 2)
    for index in 0..<10 {
      let path = index % 2 == 0 ? "/contacts" : "/contacts/queue-sales"
      #expect(try stack.client.request("GET", path, user: "agent").status == 200)
    }
    let status = try stack.status()
    #expect(status["acceptedRequests"] as? Int == 10)
    let workers = try #require(status["workers"] as? [String: Int])
    #expect(workers["total"] == 2 && workers["active"] == 1 && workers["idle"] == 1, "\(workers)")
    let perWorker = try #require(status["perWorker"] as? [[String: Any]])
    #expect(perWorker.count == 2)
    #expect(perWorker.compactMap { $0["requests"] as? Int }.reduce(0, +) == 10)
    #expect(Set(perWorker.compactMap { $0["pid"] as? Int }) == Set(stack.workerPIDs().map(Int.init)))
    #expect(status["restarts"] as? Int == 0)

    let ping = try stack.client.request("GET", "/_contacts/ping")
    #expect(ping.status == 200 && ping.text == "pong\n")
    // The status request itself is now counted too.
    #expect(try stack.status()["acceptedRequests"] as? Int == 12)
    // The generation the workers serve: the demo data's, as the listing's cursor says.
    let cursor = try #require(try stack.client.request("GET", "/contacts", user: "agent").header("X-Contacts-Cursor"))
    #expect(status["dataGeneration"].map { "c\($0)" } == cursor)
  }

  @Test func aRequestPastTheTimeoutKillsItsWorkerWhichIsReplaced() throws {
    let stack = try LocalStack(workers: 2, serveArguments: ["--request-timeout", "1"])
    let stuck = try FastCGIClient(socketPath: stack.socketPath)
    stuck.send(FastCGIClient.beginRequest)
    stuck.send(
      FastCGIClient.params([
        ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/contacts"), ("REMOTE_USER", "admin"),
        ("CONTACTS_ROLES", "Contact Center Admin"), ("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", "100"),
      ]))
    stuck.send(FastCGIClient.params([]))
    stuck.send(FastCGIClient.record(type: 5, content: Array("{".utf8)))  // then nothing more
    let started = Date()
    let answer = stuck.readStdout()  // returns when the worker is killed and the socket closes
    let elapsed = Date().timeIntervalSince(started)
    #expect(answer.isEmpty)
    #expect(elapsed >= 0.9 && elapsed < 5, "\(elapsed)")
    #expect(eventually(within: 2) { stack.workerPIDs().count == 2 })
    #expect(stack.log().contains("\"request_timeout\""))
    let status = try stack.status()
    #expect(status["requestTimeouts"] as? Int == 1)
    #expect(status["restarts"] as? Int == 1)
    #expect(try stack.client.request("GET", "/contacts", user: "agent").status == 200)
  }

  @Test func slowRequestsAreLoggedWithMethodPathDurationAndUser() throws {
    let stack = try LocalStack(workers: 1, serveArguments: ["--slow-request-ms", "200"])
    let body = Array(#"{"name":"Slow","phoneNumber":"555"}"#.utf8)
    let slow = try FastCGIClient(socketPath: stack.socketPath)
    slow.send(FastCGIClient.beginRequest)
    slow.send(
      FastCGIClient.params([
        ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/contacts"), ("REMOTE_USER", "admin"),
        ("CONTACTS_ROLES", "Contact Center Admin"), ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", String(body.count)), ("REQUEST_ID", "req-42"),
      ]))
    slow.send(FastCGIClient.params([]))
    slow.send(FastCGIClient.record(type: 5, content: Array(body[..<5])))
    // Not synchronization: the wait is what makes the request slow (≥ 400 ms, over the 200 ms
    // threshold), which the log entry's duration must show.
    usleep(400_000)
    slow.send(FastCGIClient.record(type: 5, content: Array(body[5...])))
    slow.send(FastCGIClient.record(type: 5, content: []))
    #expect(slow.readStdout().hasPrefix("Status: 201"))
    #expect(eventually(within: 2) { stack.log().contains("\"slow_request\"") })
    let line = try #require(stack.log().split(separator: "\n").first { $0.contains("\"slow_request\"") })
    let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(entry["method"] as? String == "POST")
    #expect(entry["path"] as? String == "/contacts")
    #expect(entry["user"] as? String == "admin")
    #expect(entry["request_id"] as? String == "req-42")
    #expect(Int(entry["ms"] as? String ?? "") ?? 0 >= 400)
    #expect(try stack.status()["slowRequests"] as? Int == 1)
  }

  @Test func workersAreRecycledAfterMaxRequestsWithoutAFailedRequest() throws {
    let stack = try LocalStack(workers: 1, serveArguments: ["--max-requests", "5"])
    var pids: Set<Int32> = Set(stack.workerPIDs())
    for _ in 0..<16 {
      #expect(try stack.client.request("GET", "/contacts", user: "agent").status == 200)
      pids.formUnion(stack.workerPIDs())
    }
    #expect(pids.count >= 3, "\(pids)")
    #expect(stack.log().components(separatedBy: "\"worker_recycled\"").count - 1 >= 3)
  }

  @Test func everyLogLineIsOneJSONObject() throws {
    let stack = try LocalStack(workers: 2, serveArguments: ["--access-log"])
    _ = try stack.client.request("GET", "/contacts", user: "agent")
    _ = try stack.client.request("GET", "/contacts/nope", user: "agent")
    stack.stop()
    let lines = stack.log().split(separator: "\n")
    #expect(lines.count > 5)
    for line in lines {
      let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      #expect(entry?["time"] != nil && entry?["event"] != nil && entry?["pid"] != nil, "\(line)")
    }
    #expect(lines.contains { $0.contains("\"event\":\"request\"") && $0.contains("\"status\":\"404\"") })
  }
}
