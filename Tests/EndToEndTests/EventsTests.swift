import Foundation
import TestSupport
import Testing

/// Pushed events through a real nginx with the nchan module: nginx holds the streams, the
/// responder only authorizes them, the supervisor's publisher pushes a cursor on every commit.
@Suite(.tags(.endToEnd))
struct EventsTests {
  static func isChangesEvent(_ line: String) -> Bool { line == "event: changes" }

  @Test func aStreamHearsOfAWriteAndOfAnImportWithinASecond() throws {
    let stack = try LocalStack()
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed (deploy/test.sh installs it)")
    let stream = try EventStreamClient(port: stack.httpPort, user: "agent")
    #expect(stream.status == 200, "\(stream.head)")
    #expect(stream.head.lowercased().contains("content-type: text/event-stream"))

    let started = Date()
    let created = try stack.client.request(
      "POST", "/contacts", user: "admin", json: #"{"name":"Pushed","phoneNumber":"555"}"#)
    #expect(created.status == 201)
    let heard = stream.lines(within: 3, until: { $0.hasPrefix("data:") && $0.contains("cursor") })
    let elapsed = Date().timeIntervalSince(started)
    #expect(heard.matched, "no event after the POST: \(heard.lines)")
    #expect(elapsed < 1.0, "the event took \(elapsed) s")
    #expect(heard.lines.contains(where: Self.isChangesEvent), "\(heard.lines)")
    // The event carries the cursor of the data after the write: the feed from the listing's
    // cursor before holds that write.
    let listing = try stack.client.request("GET", "/contacts", user: "agent")
    let cursor = try #require(listing.header("X-Contacts-Cursor"))
    #expect(heard.lines.last == #"data: {"cursor":"\#(cursor)"}"#)

    // An import by the admin command, in another process.
    let users = stack.directory.file("users.json")
    try #"[{"id":"user-pushed","name":"Pushed User","userName":"pushed"}]"#.write(
      toFile: users, atomically: true, encoding: .utf8)
    let importStarted = Date()
    let imported = try stack.command(["import", "users", users, "--data-dir", stack.dataDirectory, "--allow-empty"])
    #expect(imported.status == 0, "\(imported.errors)")
    let afterImport = stream.lines(within: 3, until: { $0.hasPrefix("data:") })
    #expect(afterImport.matched, "no event after the import: \(afterImport.lines)")
    #expect(Date().timeIntervalSince(importStarted) < 1.5)
  }

  @Test func noStreamStartsWithoutReadPermission() throws {
    let stack = try LocalStack()
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed")
    let anonymous = try EventStreamClient(port: stack.httpPort)
    #expect(anonymous.status == 401, "\(anonymous.head)")
    #expect(anonymous.body().contains(#""code":"unauthenticated""#))
    let guest = try EventStreamClient(port: stack.httpPort, user: "guest")
    #expect(guest.status == 403, "\(guest.head)")
    #expect(guest.body().contains(#""error""#))
    // Not an EventSource: the responder answers, in JSON.
    let plain = try EventStreamClient(port: stack.httpPort, user: "agent", accept: "application/json")
    #expect(plain.status == 406, "\(plain.head)")
    #expect(plain.body().contains(#""code":"not_acceptable""#))
    let head = try stack.client.request("HEAD", "/contacts/_events", user: "agent")
    #expect(head.status == 405 && head.header("Allow") == "GET")
  }

  /// What curl, scripts and HTTP libraries send (`*/*`, no Accept, `text/*`, another case of
  /// the media type) gets the same stream as an EventSource, after the same 401 and 403 in
  /// JSON; nchan alone would refuse them with an empty 403.
  @Test func aClientThatDoesNotNameTheStreamGetsItToo() throws {
    let stack = try LocalStack()
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed")
    let anonymous = try EventStreamClient(port: stack.httpPort, accept: "*/*")
    #expect(anonymous.status == 401, "\(anonymous.head)")
    #expect(anonymous.head.lowercased().contains("content-type: application/json"), "\(anonymous.head)")
    #expect(anonymous.body().contains(#""code":"unauthenticated""#))
    let guest = try EventStreamClient(port: stack.httpPort, user: "guest", accept: nil)
    #expect(guest.status == 403, "\(guest.head)")
    #expect(guest.body().contains(#""code":"forbidden""#))
    for accept in ["*/*", nil, "text/*", "TEXT/EVENT-STREAM"] as [String?] {
      let stream = try EventStreamClient(port: stack.httpPort, user: "agent", accept: accept)
      #expect(stream.status == 200, "\(accept ?? "no Accept"): \(stream.head)")
      #expect(stream.head.lowercased().contains("content-type: text/event-stream"), "\(stream.head)")
      _ = stream.lines(within: 0.5, until: { _ in false })
      let created = try stack.client.request(
        "POST", "/contacts", user: "admin", json: #"{"name":"Heard","phoneNumber":"555"}"#)
      #expect(created.status == 201)
      let heard = stream.lines(within: 3, until: { $0.hasPrefix("data:") && $0.contains("cursor") })
      #expect(heard.matched, "\(accept ?? "no Accept"): no event after the POST: \(heard.lines)")
      #expect(heard.lines.contains(where: Self.isChangesEvent), "\(heard.lines)")
    }
    // A media range counts whole, and q=0 refuses it: these do not admit the stream.
    for accept in ["application/x-text/event-stream", "application/json; x=text/event-stream", "*/*;q=0"] {
      let refused = try EventStreamClient(port: stack.httpPort, user: "agent", accept: accept)
      #expect(refused.status == 406, "\(accept): \(refused.head)")
      #expect(refused.body().contains(#""code":"not_acceptable""#))
    }
    // A hostile Accept near nginx's 8 KB header line: matched in linear time, answered at once.
    for accept in [String(repeating: ",", count: 7_500), String(repeating: "a/b;q=1, ", count: 800) + "*/*;q=0"] {
      let started = Date()
      let refused = try EventStreamClient(port: stack.httpPort, user: "agent", accept: accept)
      #expect(refused.status == 406, "\(refused.head)")
      #expect(Date().timeIntervalSince(started) < 1)
    }
  }

  /// With the responder out of reach, a stream's authorization cannot be asked: 502 in JSON, by
  /// either route, and nginx lives on (nchan 1.3.6 crashed the worker when its own
  /// authorization subrequest went straight to an upstream it could not reach).
  @Test func withTheResponderOutOfReachAStreamIs502AndNginxLivesOn() throws {
    let stack = try LocalStack()
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed")
    let hidden = stack.socketPath + ".hidden"
    #expect(rename(stack.socketPath, hidden) == 0)
    defer { _ = rename(hidden, stack.socketPath) }
    for accept in ["text/event-stream", "*/*", nil] as [String?] {
      for _ in 0..<3 {
        let refused = try EventStreamClient(port: stack.httpPort, user: "agent", accept: accept)
        #expect(refused.status == 502, "\(accept ?? "no Accept"): \(refused.head)")
        #expect(refused.body().contains(#""code":"bad_gateway""#))
      }
    }
    #expect(rename(hidden, stack.socketPath) == 0)
    let stream = try EventStreamClient(port: stack.httpPort, user: "agent", accept: "*/*")
    #expect(stream.status == 200, "\(stream.head)")
  }

  /// A body on the stream's GET changes nothing for a stream (it is not passed on), and one over
  /// nginx's 1 MiB bound is answered in the API's order: 401, 403, 405, then 413.
  @Test func aBodyOnTheStreamsRequestIsDroppedOrAnsweredInOrder() throws {
    let stack = try LocalStack()
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed")
    let url = "http://127.0.0.1:\(stack.httpPort)/contacts/_events"
    let small = stack.directory.file("small-body")
    try String(repeating: "a", count: 70_000).write(toFile: small, atomically: true, encoding: .utf8)
    for _ in 0..<4 {
      let guest = try curl(["-u", "guest:guest", "-X", "GET", "--data-binary", "@\(small)", url])
      #expect(guest.status == 403 && guest.errorCode == "forbidden", "\(guest.text)")
      // The stream opens (curl's --max-time ends it): its head is a 200 event stream.
      let stream = try runCommand(
        "/usr/bin/curl",
        ["-s", "-i", "--max-time", "1", "-u", "agent:agent", "-X", "GET", "--data-binary", "@\(small)", url])
      #expect(stream.output.hasPrefix("HTTP/1.1 200"), "\(stream.output.prefix(300))")
      #expect(stream.output.lowercased().contains("content-type: text/event-stream"), "\(stream.output.prefix(300))")
    }
    let huge = Array(repeating: UInt8(ascii: " "), count: 2_000_000)
    let anonymous = try stack.client.request("GET", "/contacts/_events", body: huge)
    #expect(anonymous.status == 401 && anonymous.errorCode == "unauthenticated", "\(anonymous.text)")
    let guest = try stack.client.request("GET", "/contacts/_events", user: "guest", body: huge)
    #expect(guest.status == 403, "\(guest.text)")
    let post = try stack.client.request("POST", "/contacts/_events", user: "admin", body: huge)
    #expect(post.status == 405 && post.header("Allow") == "GET", "\(post.text)")
    let agent = try stack.client.request("GET", "/contacts/_events", user: "agent", body: huge)
    #expect(agent.status == 413 && agent.errorCode == "payload_too_large", "\(agent.text)")
  }

  @Test func aQuietStreamGetsAKeepAliveCommentWithinThirtySeconds() throws {
    let stack = try LocalStack()
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed")
    let stream = try EventStreamClient(port: stack.httpPort, user: "agent")
    #expect(stream.status == 200)
    // What nchan sends when the stream opens does not count: read it first.
    _ = stream.lines(within: 1, until: { _ in false })
    let quietSince = Date()
    let comment = stream.lines(within: 31, until: { $0.hasPrefix(":") })
    #expect(comment.matched, "no comment line in 30 s: \(comment.lines)")
    #expect(Date().timeIntervalSince(quietSince) <= 30)
  }

  @Test func withoutTheModuleEventsAre501AndTheFeedStillWorks() throws {
    let stack = try LocalStack(events: false)
    let stream = try EventStreamClient(port: stack.httpPort, user: "agent")
    #expect(stream.status == 501, "\(stream.head)")
    #expect(stream.body().contains(#""code":"events_unavailable""#))
    let listing = try stack.client.request("GET", "/contacts", user: "agent")
    let cursor = try #require(listing.header("X-Contacts-Cursor"))
    #expect(try stack.client.request("GET", "/contacts/_changes?since=\(cursor)", user: "agent").status == 200)
  }

  /// Thousands of idle dashboards cost the responder nothing: with 2,000 streams open, every
  /// worker is idle between requests, the API answers as before, and an event reaches a stream.
  @Test func twoThousandIdleStreamsHoldNoWorker() throws {
    try raiseDescriptorLimit(to: 6000)
    let stack = try LocalStack(workers: 2)
    try #require(stack.eventsEnabled, "nginx's nchan module is not installed")
    var streams: [EventStreamClient] = []
    for _ in 0..<2000 {
      let stream = try EventStreamClient(port: stack.httpPort, user: "agent")
      try #require(stream.status == 200, "stream \(streams.count): \(stream.head)")
      streams.append(stream)
    }
    let status = try stack.status()
    let workers = try #require(status["workers"] as? [String: Int])
    // The status request itself is the one busy worker.
    #expect(workers["active"] == 1 && workers["total"] == 2, "\(workers)")
    for _ in 0..<50 {
      #expect(try stack.client.request("GET", "/contacts/queue-sales", user: "agent").status == 200)
    }
    _ = try stack.client.request("POST", "/contacts", user: "admin", json: #"{"name":"To all","phoneNumber":"1"}"#)
    let heard = streams[1999].lines(within: 3, until: { $0.hasPrefix("data:") })
    #expect(heard.matched, "the last stream heard nothing: \(heard.lines)")
    withExtendedLifetime(streams) {}
  }
}
