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
    defer { idle.forEach { close($0) } }
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
