internal import CFastCGI

#if canImport(Glibc)
  internal import Glibc
#endif

/// What one call to `FastCGIConnection.accept()` produced.
public enum FastCGIAcceptResult: Sendable {
  /// A request, with its params copied and its body read (or found to be over the limit).
  case request(FastCGIRequest)
  /// No request came within the wait (see `UnixSocket.setAcceptWait`); the caller checks
  /// whether it should stop, then waits again.
  case idle
  /// libfcgi failed to accept or to read the request's records.
  case failed(code: Int32)
}

/// A worker's side of the FastCGI socket: accept one request, answer it, repeat.
///
/// Not `Sendable`: a worker process has one of these and uses it from one thread.
public final class FastCGIConnection {
  private let request: UnsafeMutablePointer<FCGX_Request>
  private let maximumBodyBytes: Int
  private var isOpen = false
  /// The request's input was read to its end: nothing more will arrive from nginx.
  private var inputFullyRead = false

  /// Prepares libfcgi to accept on `listeningDescriptor`.
  ///
  /// Install signal handlers *before* this: `FCGX_Init` puts its own on `SIGTERM`, `SIGUSR1`
  /// and `SIGPIPE` where the disposition is still the default.
  ///
  /// No signal is meant to reach libfcgi: inside `FCGX_Accept_r`, after `accept(2)`, it waits
  /// for and reads the request's first records, and an interrupted read there drops the
  /// connection (nginx answers 502). So workers keep their stop signals blocked and take them
  /// between requests; the wait for a connection ends every so often by the listening socket's
  /// receive timeout instead of by a signal.
  ///
  /// - Parameters:
  ///   - listeningDescriptor: the listening socket (0 when inherited).
  ///   - maximumBodyBytes: bodies longer than this are not read at all.
  public init(listeningDescriptor: Int32, maximumBodyBytes: Int) {
    FCGX_Init()
    request = .allocate(capacity: 1)
    request.initialize(to: FCGX_Request())
    FCGX_InitRequest(request, listeningDescriptor, 0)
    self.maximumBodyBytes = maximumBodyBytes
  }

  deinit {
    if isOpen { FCGX_Finish_r(request) }
    FCGX_Free(request, 0)
    request.deallocate()
  }

  /// Waits for the next request (finishing the previous one if it is still open).
  ///
  /// - Parameter accepted: called as soon as a request has arrived, before its body is read,
  ///   so that the time spent receiving the body counts as time spent on the request.
  public func accept(accepted: () -> Void = {}) -> FastCGIAcceptResult {
    isOpen = false
    let result = FCGX_Accept_r(request)
    if result < 0 {
      let code = -result
      return code == EAGAIN || code == EWOULDBLOCK || code == EINTR ? .idle : .failed(code: code)
    }
    isOpen = true
    inputFullyRead = false
    accepted()
    let params = copyParams()
    let declaredLength = params.first { $0.name == "CONTENT_LENGTH" }.flatMap { Int($0.value) } ?? 0
    if declaredLength > maximumBodyBytes {
      return .request(FastCGIRequest(params: params, bodyExceededLimit: true))
    }
    let (body, exceeded) = readBody()
    inputFullyRead = !exceeded
    return .request(FastCGIRequest(params: params, body: exceeded ? [] : body, bodyExceededLimit: exceeded))
  }

  /// Writes the response and ends the request.
  ///
  /// - Returns: `false` when the peer had gone away (`EPIPE` and friends): the request is
  ///   over either way and the worker carries on.
  @discardableResult
  public func respond(_ response: FastCGIResponse) -> Bool {
    guard isOpen else { return false }
    let delivered = put(response.head()) && put(response.body) && FCGX_FFlush(request.pointee.out) == 0
    // libfcgi closes a connection by shutting down its side and waiting for nginx to close
    // the other, so that unread input cannot turn into a reset. When the input was read to its
    // end there is nothing to wait for, and the worker is free for the next request at once
    // (measured: the wait was most of a small request's time). A body left unread over the
    // limit keeps the careful close.
    if inputFullyRead { FCGX_Detach(request) }
    FCGX_Finish_r(request)
    isOpen = false
    return delivered
  }

  /// Writes `bytes` to the request's stdout stream; `false` if libfcgi could not.
  private func put(_ bytes: [UInt8]) -> Bool {
    guard !bytes.isEmpty else { return true }
    let written = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.pointee.out)
      }
    }
    return written == bytes.count
  }

  /// Copies every `NAME=value` string now: libfcgi frees them at the next accept.
  private func copyParams() -> [(name: String, value: String)] {
    var params: [(name: String, value: String)] = []
    guard var cursor = request.pointee.envp else { return params }
    while let entry = cursor.pointee {
      let bytes = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
      let length = strlen(entry)
      let buffer = UnsafeBufferPointer(start: bytes, count: length)
      if let equals = buffer.firstIndex(of: UInt8(ascii: "=")) {
        params.append(
          (
            String(decoding: buffer[..<equals], as: UTF8.self),
            String(decoding: buffer[(equals + 1)...], as: UTF8.self)
          ))
      }
      cursor += 1
    }
    return params
  }

  /// Reads the body up to the limit; stops reading (and reports it) as soon as it is over.
  private func readBody() -> (bytes: [UInt8], exceededLimit: Bool) {
    var body: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
      let count = chunk.withUnsafeMutableBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { chars in
          FCGX_GetStr(chars.baseAddress, Int32(chars.count), request.pointee.in)
        }
      }
      if count <= 0 { return (body, false) }
      if body.count + Int(count) > maximumBodyBytes { return ([], true) }
      body.append(contentsOf: chunk[0..<Int(count)])
    }
  }
}
