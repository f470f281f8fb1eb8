import Foundation

#if canImport(Glibc)
  import Glibc
#endif

// Raw sockets for what the clients in this module, and tests that play a hostile or idle client,
// share: connect to loopback, send everything, read until the peer closes.

/// A TCP connection to 127.0.0.1:`port`, or `nil` if it cannot be made within the timeout.
///
/// - Parameters:
///   - port: the port on 127.0.0.1.
///   - timeoutSeconds: how long connect, each send and each receive may block.
/// - Returns: the connected descriptor, which the caller closes.
public func connectToLoopback(port: UInt16, timeoutSeconds: Int) -> Int32? {
  try? connectedLoopbackSocket(port: port, timeoutSeconds: timeoutSeconds)
}

/// A TCP connection to 127.0.0.1:`port`; throws (with errno) if it cannot be made.
func connectedLoopbackSocket(port: UInt16, timeoutSeconds: Int) throws -> Int32 {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw HTTPClientError(description: "socket: errno \(errno)") }
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
    let error = errno
    close(fd)
    throw HTTPClientError(description: "connect to port \(port): errno \(error)")
  }
  return fd
}

/// Sends all of `bytes` on `fd`, or as much as the peer takes before it stops reading (a server
/// may answer, 413 say, and close before it has read everything).
func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
  var sent = 0
  while sent < bytes.count {
    let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    if count <= 0 { return }
    sent += count
  }
}

/// Everything `fd` receives until the peer closes it or a receive times out.
func receiveUntilClosed(_ fd: Int32) -> [UInt8] {
  var received: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = recv(fd, &buffer, buffer.count, 0)
    if count <= 0 { break }
    received += buffer[0..<count]
  }
  return received
}

/// Sends `bytes` on a new connection and reads until the server closes it or `timeoutSeconds`
/// pass without data.
///
/// - Returns: whatever arrived (empty if nothing did, or the connection failed).
public func rawExchange(port: UInt16, _ bytes: [UInt8], timeoutSeconds: Int = 10) -> [UInt8] {
  guard let fd = connectToLoopback(port: port, timeoutSeconds: timeoutSeconds) else { return [] }
  defer { close(fd) }
  sendAll(fd, bytes)
  return receiveUntilClosed(fd)
}

/// Whether the peer has closed `fd` (EOF or reset), without waiting.
public func isClosedByPeer(_ fd: Int32) -> Bool {
  var byte: UInt8 = 0
  let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
  return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
}

/// Whether something accepts connections on 127.0.0.1:`port`.
public func isListening(port: UInt16) -> Bool {
  guard let fd = connectToLoopback(port: port, timeoutSeconds: 2) else { return false }
  close(fd)
  return true
}

/// Raises this process's soft descriptor limit to at least `needed` (up to the hard limit).
///
/// - Throws: if the hard limit is lower than `needed`, or `setrlimit` fails.
public func raiseDescriptorLimit(to minimum: Int) throws {
  let needed = rlim_t(minimum)
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
