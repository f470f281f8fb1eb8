import Foundation
import Platform
import TestSupport
import Testing

@testable import FastCGI

/// Large bodies go out as `FCGI_STDOUT` records the worker frames itself (`FastCGIRecords`),
/// written past libfcgi's stream; small ones through libfcgi. Either way the peer must read the
/// head and body it was given, byte for byte, in records the protocol allows, then the end of the
/// stream and `FCGI_END_REQUEST`.
@Suite struct FastCGIRecordsTests {
  /// Every byte of head and body, in order, in records of 1...limit bytes, each as full as it
  /// may be but the last.
  @Test(arguments: [
    (0, 1), (10, 0), (10, 1), (100, 65_435), (100, 65_436), (65_535, 0), (65_535, 1), (65_536, 0),
    (200, 1_048_576 + 17), (70_000, 200_000),
  ])
  func recordsCarryHeadThenBodyInFullRecords(headCount: Int, bodyCount: Int) {
    let records = FastCGIRecords.stdoutRecords(headCount: headCount, bodyCount: bodyCount)
    var headNext = 0
    var bodyNext = 0
    for (index, record) in records.enumerated() {
      #expect(record.contentLength >= 1 && record.contentLength <= 65_535)
      if index < records.count - 1 { #expect(record.contentLength == 65_535) }
      #expect(record.head.lowerBound == headNext && record.body.lowerBound == bodyNext)
      // The body starts only once the head is done.
      if !record.body.isEmpty { #expect(record.head.upperBound == headCount) }
      headNext = record.head.upperBound
      bodyNext = record.body.upperBound
    }
    #expect(headNext == headCount && bodyNext == bodyCount)
    #expect(records.count == (headCount + bodyCount + 65_534) / 65_535)
  }

  @Test func smallerRecordsWhenAsked() {
    let records = FastCGIRecords.stdoutRecords(headCount: 3, bodyCount: 10, maximumContentLength: 4)
    #expect(records.map(\.head) == [0..<3, 3..<3, 3..<3, 3..<3])
    #expect(records.map(\.body) == [0..<1, 1..<5, 5..<9, 9..<10])
  }

  @Test func headersSayVersionTypeRequestAndLength() {
    #expect(FastCGIRecords.header(requestID: 1, contentLength: 65_535) == [1, 6, 0, 1, 0xFF, 0xFF, 0, 0])
    #expect(FastCGIRecords.header(requestID: 0x1234, contentLength: 0x0102) == [1, 6, 0x12, 0x34, 1, 2, 0, 0])
    let records = FastCGIRecords.stdoutRecords(headCount: 10, bodyCount: 70_000)
    let headers = FastCGIRecords.headers(of: records, requestID: 7)
    #expect(headers.count == 16)
    #expect(Array(headers[0..<8]) == [1, 6, 0, 7, 0xFF, 0xFF, 0, 0])
    #expect(Array(headers[8..<16]) == [1, 6, 0, 7, 0x11, 0x7B, 0, 0])  // 70,010 − 65,535 = 4,475 = 0x117B
  }

  /// Through a real socket and libfcgi's accept: what a peer reads back is the head and the
  /// body, whether the body went through libfcgi (small) or past it (large, several records).
  @Test(arguments: [0, 100, 8 * 1024, 8 * 1024 + 1, 65_535, 300_000, 1_048_576 + 3])
  func connectionDeliversBodiesIntact(bodyCount: Int) throws {
    let directory = TemporaryDirectory("fastcgi-records")
    let path = directory.file("responder.sock")
    let listening = try UnixSocket.listen(path: path)
    defer { close(listening) }
    let connection = FastCGIConnection(listeningDescriptor: listening, maximumBodyBytes: 1024)
    var random = SeededRandom(seed: UInt64(bodyCount))
    let body = (0..<bodyCount).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    let response = FastCGIResponse(
      status: 200, headers: [("Content-Type", "application/octet-stream")], body: body)

    // The peer reads on a thread of its own: a large answer fills the socket's buffer and the
    // worker's send waits for it.
    let client = try FastCGIClient(socketPath: path)
    client.send(FastCGIClient.beginRequest)
    client.send(FastCGIClient.params([("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/x")]))
    client.send(FastCGIClient.params([]))
    client.send(FastCGIClient.record(type: 5, content: []))
    let answer = Answer()
    // Only that thread uses the client from here on.
    nonisolated(unsafe) let peer = client
    let reader = Thread { answer.set(peer.readRecords()) }
    reader.start()

    guard case .request(let request, let ticket) = connection.accept() else {
      Issue.record("no request accepted")
      return
    }
    #expect(request.param("REQUEST_URI") == "/x")
    #expect(connection.respond(response, to: ticket))
    #expect(eventually(within: 30) { answer.get() != nil })
    let (records, stdout, complete) = try #require(answer.get())
    #expect(complete)
    #expect(stdout == response.head() + body)
    #expect(records.allSatisfy { $0.requestID == 1 && $0.contentLength <= 65_535 })
    // The stream's end, then FCGI_END_REQUEST, last.
    #expect(records.suffix(2).map(\.type) == [6, 3])
    #expect(records.suffix(2).map(\.contentLength) == [0, 8])
    if bodyCount > FastCGIConnection.largestCopiedBody {
      // Past libfcgi: records far larger than its 8 KB buffer.
      #expect(records.dropLast(2).count == (stdout.count + 65_534) / 65_535)
    }
  }

  /// A request's body is read whole through the worker's 16 KB buffer, in records of any size,
  /// up to the limit; one byte past it (sent without a declared length, as a chunked body
  /// reaches the worker) is refused, whatever came before.
  @Test(arguments: [
    (0, 0), (1, 1), (16_383, 1000), (16_384, 16_384), (16_385, 65_535), (100_000, 7), (131_072, 65_535),
    (131_073, 65_535),
  ])
  func requestBodiesAreReadWholeUpToTheLimit(bodyCount: Int, recordSize: Int) throws {
    let directory = TemporaryDirectory("fastcgi-body")
    let path = directory.file("responder.sock")
    let listening = try UnixSocket.listen(path: path)
    defer { close(listening) }
    let limit = 131_072
    let connection = FastCGIConnection(listeningDescriptor: listening, maximumBodyBytes: limit)
    var random = SeededRandom(seed: UInt64(bodyCount))
    let body = (0..<bodyCount).map { _ in UInt8(truncatingIfNeeded: random.next()) }

    let client = try FastCGIClient(socketPath: path)
    client.send(FastCGIClient.beginRequest)
    client.send(FastCGIClient.params([("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/x")]))
    client.send(FastCGIClient.params([]))
    // Sent from a thread of its own: a large body fills the socket's buffer until it is read.
    nonisolated(unsafe) let peer = client
    let sender = Thread {
      for start in stride(from: 0, to: body.count, by: max(recordSize, 1)) {
        peer.send(FastCGIClient.record(type: 5, content: Array(body[start..<min(start + recordSize, body.count)])))
      }
      peer.send(FastCGIClient.record(type: 5, content: []))
    }
    sender.start()

    guard case .request(let request, let ticket) = connection.accept() else {
      Issue.record("no request accepted")
      return
    }
    if bodyCount > limit {
      #expect(request.bodyExceededLimit && request.body.isEmpty)
    } else {
      #expect(!request.bodyExceededLimit)
      #expect(request.body == body)
    }
    #expect(connection.respond(FastCGIResponse(status: 204), to: ticket))
  }

  /// nginx gone (a client that hung up, a reload) before a large answer is sent: the direct
  /// write fails with `EPIPE` or `ECONNRESET` instead of raising `SIGPIPE` or waiting, `respond`
  /// says so, and the connection serves the next request as usual.
  @Test func aPeerGoneBeforeALargeBodyFailsTheWriteAndTheNextRequestIsServed() throws {
    let directory = TemporaryDirectory("fastcgi-records-gone")
    let path = directory.file("responder.sock")
    let listening = try UnixSocket.listen(path: path)
    defer { close(listening) }
    let connection = FastCGIConnection(listeningDescriptor: listening, maximumBodyBytes: 1024)
    func sendRequest(_ client: FastCGIClient) {
      client.send(FastCGIClient.beginRequest)
      client.send(FastCGIClient.params([("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/x")]))
      client.send(FastCGIClient.params([]))
      client.send(FastCGIClient.record(type: 5, content: []))
    }
    do {
      let gone = try FastCGIClient(socketPath: path)
      sendRequest(gone)
    }  // closed here, before the answer
    guard case .request(_, let ticket) = connection.accept() else {
      Issue.record("no request accepted")
      return
    }
    let large = FastCGIResponse(status: 200, headers: [], body: [UInt8](repeating: 0x61, count: 4 << 20))
    #expect(!connection.respond(large, to: ticket), "a write to a closed peer is reported as failed")

    let client = try FastCGIClient(socketPath: path)
    sendRequest(client)
    guard case .request(_, let ticket) = connection.accept() else {
      Issue.record("the next request was not accepted")
      return
    }
    let small = FastCGIResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("ok".utf8))
    #expect(connection.respond(small, to: ticket))
    let (_, stdout, complete) = client.readRecords()
    #expect(complete)
    #expect(stdout == small.head() + small.body)
  }

  /// A worker holding answers keeps several requests open: each answer reaches its own peer,
  /// whatever the order they are sent in; with nothing waiting, an accept that may not wait
  /// returns at once (the listening socket is non-blocking), and one that may wait gives up
  /// after its wait.
  @Test func severalOpenRequestsAreAnsweredEachOnItsOwnConnection() throws {
    let directory = TemporaryDirectory("fastcgi-held")
    let path = directory.file("responder.sock")
    let listening = try UnixSocket.listen(path: path)
    defer { close(listening) }
    try UnixSocket.setNonBlocking(listening)
    let connection = FastCGIConnection(listeningDescriptor: listening, maximumBodyBytes: 1024, maximumOpenRequests: 3)
    let started = Clock.monotonicNanoseconds()
    guard case .idle = connection.accept(waitMilliseconds: 0) else {
      Issue.record("an accept with nothing waiting did not come back idle")
      return
    }
    #expect(Clock.monotonicNanoseconds() - started < 100_000_000)
    let waitStarted = Clock.monotonicNanoseconds()
    guard case .idle = connection.accept(waitMilliseconds: 50) else {
      Issue.record("an accept with nothing waiting did not come back idle after its wait")
      return
    }
    #expect(Clock.monotonicNanoseconds() - waitStarted >= 45_000_000)

    var clients: [FastCGIClient] = []
    var tickets: [FastCGITicket] = []
    for index in 0..<3 {
      let client = try FastCGIClient(socketPath: path)
      client.send(FastCGIClient.beginRequest)
      client.send(FastCGIClient.params([("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/\(index)")]))
      client.send(FastCGIClient.params([]))
      client.send(FastCGIClient.record(type: 5, content: []))
      guard case .request(let request, let ticket) = connection.accept(waitMilliseconds: 0) else {
        Issue.record("request \(index) was not accepted")
        return
      }
      #expect(request.param("REQUEST_URI") == "/\(index)")
      clients.append(client)
      tickets.append(ticket)
    }
    #expect(Set(tickets).count == 3)
    #expect(connection.openRequests == 3)
    for index in [2, 0, 1] {
      let body = Array("answer \(index)".utf8)
      #expect(connection.respond(FastCGIResponse(status: 200, body: body), to: tickets[index]))
    }
    #expect(connection.openRequests == 0)
    #expect(!connection.respond(FastCGIResponse(status: 200), to: tickets[0]), "a ticket answered twice")
    for (index, client) in clients.enumerated() {
      let (_, stdout, complete) = client.readRecords()
      #expect(complete)
      #expect(
        stdout == FastCGIResponse(status: 200, body: Array("answer \(index)".utf8)).head()
          + Array("answer \(index)".utf8))
    }
  }

  /// What the reading thread got.
  final class Answer: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var value: (records: [FastCGIClient.Record], stdout: [UInt8], complete: Bool)?
    func set(_ new: (records: [FastCGIClient.Record], stdout: [UInt8], complete: Bool)) {
      lock.withLock { value = new }
    }
    func get() -> (records: [FastCGIClient.Record], stdout: [UInt8], complete: Bool)? { lock.withLock { value } }
  }
}
