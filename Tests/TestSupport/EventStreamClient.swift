import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A Server-Sent Events client as a browser's EventSource is one: `GET` with
/// `Accept: text/event-stream`, then lines read as they come.
public final class EventStreamClient {
  private let fd: Int32
  /// The status of the answer (200 for a stream).
  public let status: Int
  /// The head of the answer, as received.
  public let head: String
  /// What arrived after the head and was not read yet as lines.
  private var buffered: [UInt8]

  /// Opens `path` on 127.0.0.1:`port` as `user` (basic auth with the demo password), or
  /// anonymously, with `accept` as the Accept header (none when nil).
  public init(
    port: UInt16, path: String = "/contacts/_events", user: String? = nil, accept: String? = "text/event-stream"
  )
    throws
  {
    fd = try connectedLoopbackSocket(port: port, timeoutSeconds: 5)
    var request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n"
    if let accept { request += "Accept: \(accept)\r\n" }
    if let user { request += "Authorization: Basic \(Data("\(user):\(user)".utf8).base64EncodedString())\r\n" }
    request += "\r\n"
    sendAll(fd, Array(request.utf8))
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    let separator = Array("\r\n\r\n".utf8)
    while true {
      if let end = received.firstRange(of: separator) {
        head = String(decoding: received[..<end.lowerBound], as: UTF8.self)
        buffered = Array(received[end.upperBound...])
        break
      }
      let count = recv(fd, &buffer, buffer.count, 0)
      guard count > 0 else {
        close(fd)
        throw HTTPClientError(
          description: "the stream closed before its head: \(String(decoding: received, as: UTF8.self))")
      }
      received += buffer[0..<count]
    }
    status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
  }

  deinit { close(fd) }

  /// The body received so far plus whatever arrives within `seconds` (for error answers).
  public func body(within seconds: Double = 2) -> String {
    _ = readMore(deadline: Date().addingTimeInterval(seconds))
    return String(decoding: buffered, as: UTF8.self)
  }

  /// Waits up to `seconds` for a line for which `matches` holds; every line read is returned in
  /// order, up to and including that one (all lines read, if none matched in time).
  public func lines(within seconds: Double, until matches: (String) -> Bool) -> (matched: Bool, lines: [String]) {
    let deadline = Date().addingTimeInterval(seconds)
    var lines: [String] = []
    while true {
      while let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
        let line = String(decoding: buffered[..<newline], as: UTF8.self).trimmingCharacters(in: ["\r"])
        buffered.removeSubrange(...newline)
        lines.append(line)
        if matches(line) { return (true, lines) }
      }
      guard readMore(deadline: deadline) else { return (false, lines) }
    }
  }

  /// Reads what arrives before `deadline`; `false` when nothing did (or the peer closed).
  private func readMore(deadline: Date) -> Bool {
    let remaining = deadline.timeIntervalSinceNow
    guard remaining > 0 else { return false }
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&entry, 1, Int32(remaining * 1000)) > 0 else { return false }
    var buffer = [UInt8](repeating: 0, count: 16384)
    let count = recv(fd, &buffer, buffer.count, 0)
    guard count > 0 else { return false }
    buffered += buffer[0..<count]
    return true
  }
}
