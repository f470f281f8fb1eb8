import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Talks FastCGI straight to the responder's unix socket, the way nginx does, so that tests can
/// do what nginx never would: send a hostile record, or a body slowly.
public final class FastCGIClient {
  private let fd: Int32

  public init(socketPath: String) throws {
    fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      let bytes = Array(socketPath.utf8)
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard connected == 0 else {
      close(fd)
      throw HTTPClientError(description: "connect \(socketPath): errno \(errno)")
    }
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  }

  deinit { close(fd) }

  /// A FastCGI record: version 1, type, request id 1, content, no padding.
  public static func record(type: UInt8, content: [UInt8]) -> [UInt8] {
    [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
  }

  /// FCGI_BEGIN_REQUEST for the responder role, connection closed after the request.
  public static let beginRequest = record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])

  /// A PARAMS record holding `params` (lengths under 128 bytes each).
  public static func params(_ params: [(String, String)]) -> [UInt8] {
    var content: [UInt8] = []
    for (name, value) in params {
      content += [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
    }
    return record(type: 4, content: content)
  }

  public func send(_ bytes: [UInt8]) { sendAll(fd, bytes) }

  /// Everything the responder sends until it closes, as the STDOUT stream's text.
  public func readStdout() -> String {
    String(decoding: readRecords().stdout, as: UTF8.self)
  }

  /// One record as it arrived: its type, request id and content length.
  public struct Record: Equatable, Sendable {
    public var type: UInt8
    public var requestID: Int
    public var contentLength: Int
  }

  /// Everything the responder sends until it closes: each record's framing, and the STDOUT
  /// stream's bytes; `complete` when the bytes ended exactly at a record's end.
  public func readRecords() -> (records: [Record], stdout: [UInt8], complete: Bool) {
    Self.parseRecords(receiveUntilClosed(fd))
  }

  /// Splits `raw` into FastCGI records (see `readRecords`).
  public static func parseRecords(_ raw: [UInt8]) -> (records: [Record], stdout: [UInt8], complete: Bool) {
    var records: [Record] = []
    var stdout: [UInt8] = []
    var index = 0
    while index + 8 <= raw.count {
      let type = raw[index + 1]
      let requestID = Int(raw[index + 2]) << 8 | Int(raw[index + 3])
      let length = Int(raw[index + 4]) << 8 | Int(raw[index + 5])
      let padding = Int(raw[index + 6])
      let start = index + 8
      records.append(Record(type: type, requestID: requestID, contentLength: length))
      if type == 6 { stdout += raw[start..<min(start + length, raw.count)] }
      index = start + length + padding
    }
    return (records, stdout, index == raw.count)
  }
}
