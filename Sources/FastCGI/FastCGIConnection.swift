internal import CFastCGI
internal import Platform

#if canImport(Glibc)
  internal import Glibc
#endif

/// What one call to `FastCGIConnection.accept()` produced.
public enum FastCGIAcceptResult: Sendable {
  /// A request, with its params copied and its body read (or found to be over the limit), and
  /// the ticket its response is written with.
  case request(FastCGIRequest, FastCGITicket)
  /// No request came within the wait; the caller checks whether it should stop (or sends what
  /// it holds), then waits again.
  case idle
  /// libfcgi failed to accept or to read the request's records.
  case failed(code: Int32)
}

/// Which open request a response is for: a worker may hold several open while their answers
/// wait for the journal's flush (`FastCGIConnection(maximumOpenRequests:)`).
public struct FastCGITicket: Hashable, Sendable {
  let slot: Int
}

/// A worker's side of the FastCGI socket: accept a request, answer it, repeat; with several
/// requests open at once when the worker holds answers back (see `WorkerLoop`).
///
/// Not `Sendable`: a worker process has one of these and uses it from one thread.
public final class FastCGIConnection {
  /// One libfcgi request object: a connection from nginx, open from its accept to its answer.
  private final class Slot {
    let request: UnsafeMutablePointer<FCGX_Request>
    var isOpen = false
    /// The request's input was read to its end: nothing more will arrive from nginx.
    var inputFullyRead = false

    init(listeningDescriptor: Int32) {
      request = .allocate(capacity: 1)
      request.initialize(to: FCGX_Request())
      FCGX_InitRequest(request, listeningDescriptor, 0)
    }

    deinit {
      if isOpen { FCGX_Finish_r(request) }
      FCGX_Free(request, 0)
      request.deallocate()
    }
  }

  private let listeningDescriptor: Int32
  private let maximumBodyBytes: Int
  private let maximumOpenRequests: Int
  private var slots: [Slot] = []
  /// What `readBody` reads into: one buffer for the connection's life, not one per request.
  private var bodyChunk = [CChar](repeating: 0, count: 16384)

  /// Prepares libfcgi to accept on `listeningDescriptor`, which must be non-blocking
  /// (`UnixSocket.setNonBlocking`): `accept` waits for it with `poll(2)`.
  ///
  /// Install signal handlers *before* this: `FCGX_Init` puts its own on `SIGTERM`, `SIGUSR1`
  /// and `SIGPIPE` where the disposition is still the default.
  ///
  /// No signal is meant to reach libfcgi: inside `FCGX_Accept_r`, after `accept(2)`, it waits
  /// for and reads the request's first records, and an interrupted read there drops the
  /// connection (nginx answers 502). So workers keep their stop signals blocked and take them
  /// between requests; the wait for a connection is a `poll(2)` with a timeout instead, and the
  /// accept after it never waits (a worker that lost the connection to another gets `EAGAIN`).
  ///
  /// - Parameters:
  ///   - listeningDescriptor: the listening socket (0 when inherited).
  ///   - maximumBodyBytes: bodies longer than this are not read at all.
  ///   - maximumOpenRequests: how many requests may be open (accepted, not yet answered) at once.
  public init(listeningDescriptor: Int32, maximumBodyBytes: Int, maximumOpenRequests: Int = 1) {
    FCGX_Init()
    self.listeningDescriptor = listeningDescriptor
    self.maximumBodyBytes = maximumBodyBytes
    self.maximumOpenRequests = max(1, maximumOpenRequests)
  }

  /// Requests accepted and not yet answered.
  public var openRequests: Int { slots.count { $0.isOpen } }

  /// Waits up to `waitMilliseconds` for the next request (0: only one already waiting).
  ///
  /// - Precondition: fewer than `maximumOpenRequests` requests are open.
  /// - Parameter accepted: called as soon as a request has arrived, before its body is read,
  ///   so that the time spent receiving the body counts as time spent on the request.
  public func accept(waitMilliseconds: Int32 = 200, accepted: () -> Void = {}) -> FastCGIAcceptResult {
    let index: Int
    if let free = slots.firstIndex(where: { !$0.isOpen }) {
      index = free
    } else {
      precondition(slots.count < maximumOpenRequests, "accept with every request slot open")
      slots.append(Slot(listeningDescriptor: listeningDescriptor))
      index = slots.count - 1
    }
    let slot = slots[index]
    let ticket = FastCGITicket(slot: index)
    // Under load a connection is usually waiting: accept first, and wait only when none is.
    var waited = waitMilliseconds <= 0
    while true {
      let result = FCGX_Accept_r(slot.request)
      if result >= 0 { break }
      let code = -result
      guard code == EAGAIN || code == EWOULDBLOCK || code == EINTR else { return .failed(code: code) }
      // None waiting, or another worker took it (they share the listening socket).
      if waited { return .idle }
      waited = true
      var waiting = pollfd(fd: listeningDescriptor, events: Int16(POLLIN), revents: 0)
      if poll(&waiting, 1, waitMilliseconds) <= 0 { return .idle }
    }
    slot.isOpen = true
    slot.inputFullyRead = false
    accepted()
    let params = copyParams(slot.request)
    let declaredLength = params.first { $0.name == "CONTENT_LENGTH" }.flatMap { Int($0.value) } ?? 0
    if declaredLength > maximumBodyBytes {
      return .request(FastCGIRequest(params: params, bodyExceededLimit: true), ticket)
    }
    let (body, exceeded) = readBody(slot.request)
    slot.inputFullyRead = !exceeded
    return .request(
      FastCGIRequest(params: params, body: exceeded ? [] : body, bodyExceededLimit: exceeded), ticket)
  }

  /// Writes the response to the request `ticket` names and ends that request.
  ///
  /// - Returns: `false` when the peer had gone away (`EPIPE` and friends), or the request is not
  ///   open: the request is over either way and the worker carries on.
  @discardableResult
  public func respond(_ response: FastCGIResponse, to ticket: FastCGITicket) -> Bool {
    guard slots.indices.contains(ticket.slot), slots[ticket.slot].isOpen else { return false }
    let slot = slots[ticket.slot]
    let request = slot.request
    let delivered =
      response.body.count > Self.largestCopiedBody
      ? sendRecords(request, head: response.head(), body: response.body)
      : put(response.head(), to: request) && put(response.body, to: request)
        && FCGX_FFlush(request.pointee.out) == 0
    // libfcgi closes a connection by shutting down its side and waiting for nginx to close
    // the other, so that unread input cannot turn into a reset. When the input was read to its
    // end there is nothing to wait for, and the worker is free for the next request at once
    // (measured: the wait was most of a small request's time). A body left unread over the
    // limit keeps the careful close.
    if slot.inputFullyRead { FCGX_Detach(request) }
    FCGX_Finish_r(request)
    slot.isOpen = false
    return delivered
  }

  /// Bodies longer than this bypass libfcgi's stream (`sendRecords`).
  ///
  /// libfcgi copies what is put into its stream's 8 KB buffer and writes a record each time the
  /// buffer fills: a 295 KB gzip listing cost the worker 38 `write`s and nginx 13 `readv`s
  /// (strace, 10,000 contacts), and the copy. A body that fits in that one buffer costs a single
  /// write either way, so small answers keep libfcgi's path.
  static let largestCopiedBody = 8 * 1024

  /// Writes the head and `body` as `FCGI_STDOUT` records of up to 65,535 bytes straight to the
  /// request's socket, gathered from the bytes where they are (`sendmsg` with one vector per
  /// header and per run: no copy), in as few calls as the socket takes them. libfcgi's stream
  /// has nothing buffered (nothing was put into it), so its records cannot interleave with
  /// these; `FCGX_Finish_r` then writes the end of the stream and `FCGI_END_REQUEST` after them,
  /// as it does for every response.
  ///
  /// - Returns: `false` when the peer had gone away or the socket failed.
  private func sendRecords(_ request: UnsafeMutablePointer<FCGX_Request>, head: [UInt8], body: [UInt8]) -> Bool {
    // `ipcFd` and `requestId` are libfcgi's own fields of the request (the first is below the
    // header's "don't use" line, but no call exposes the connection's descriptor): valid while
    // the request is open, which `respond` checked.
    let descriptor = request.pointee.ipcFd
    guard descriptor >= 0 else { return false }
    let records = FastCGIRecords.stdoutRecords(headCount: head.count, bodyCount: body.count)
    let headers = FastCGIRecords.headers(of: records, requestID: Int(request.pointee.requestId))
    return headers.withUnsafeBytes { headerBytes in
      head.withUnsafeBytes { headBytes in
        body.withUnsafeBytes { bodyBytes in
          var vectors: [iovec] = []
          vectors.reserveCapacity(records.count * 3)
          func vector(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
            guard !range.isEmpty, let base = bytes.baseAddress else { return }
            vectors.append(
              iovec(iov_base: UnsafeMutableRawPointer(mutating: base + range.lowerBound), iov_len: range.count))
          }
          for (index, record) in records.enumerated() {
            let start = index * FastCGIRecords.headerLength
            vector(headerBytes, start..<start + FastCGIRecords.headerLength)
            vector(headBytes, record.head)
            vector(bodyBytes, record.body)
          }
          return Self.sendAll(descriptor, &vectors)
        }
      }
    }
  }

  /// At most this many vectors per `sendmsg` (Linux's `UIO_MAXIOV`); a 15 MB listing is ~700.
  private static let vectorsPerCall = 1024
  /// How long a socket that takes nothing may hold a response up (nginx's own
  /// `fastcgi_read_timeout` is 60 s; by then it has given up on the response).
  private static let sendWaitMilliseconds: Int32 = 60_000

  /// Sends every byte `vectors` point at, resuming after partial sends (a unix socket takes what
  /// fits in its buffer while nginx reads); waits for room when the socket says it has none.
  /// `MSG_NOSIGNAL`: a peer gone away is an `EPIPE` to report, not a signal.
  private static func sendAll(_ descriptor: Int32, _ vectors: inout [iovec]) -> Bool {
    var first = 0
    while first < vectors.count {
      let count = min(vectors.count - first, vectorsPerCall)
      let sent: Int? = vectors.withUnsafeMutableBufferPointer { buffer in
        var message = msghdr()
        message.msg_iov = buffer.baseAddress! + first
        message.msg_iovlen = count
        do throws(SystemError) {
          return try Syscall.call("sendmsg") { sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL)) }
        } catch {
          guard error.code == EAGAIN || error.code == EWOULDBLOCK else { return nil }
          var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
          let ready = (try? Syscall.call("poll") { poll(&waiting, 1, sendWaitMilliseconds) }) ?? 0
          return ready > 0 ? 0 : nil
        }
      }
      guard var remaining = sent else { return false }
      while remaining > 0 {
        if remaining >= vectors[first].iov_len {
          remaining -= vectors[first].iov_len
          first += 1
        } else {
          vectors[first].iov_base += remaining
          vectors[first].iov_len -= remaining
          remaining = 0
        }
      }
    }
    return true
  }

  /// Writes `bytes` to the request's stdout stream; `false` if libfcgi could not.
  private func put(_ bytes: [UInt8], to request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
    guard !bytes.isEmpty else { return true }
    let written = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.pointee.out)
      }
    }
    return written == bytes.count
  }

  /// Copies every `NAME=value` string now: libfcgi frees them at the next accept.
  private func copyParams(_ request: UnsafeMutablePointer<FCGX_Request>) -> [(name: String, value: String)] {
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
  ///
  /// Into the connection's one buffer: a 16 KB array made and zeroed for every request (a GET
  /// reads nothing) cost a `memset` and a `malloc` large enough to make glibc consolidate its
  /// fast bins, which costs more the larger the heap (libfcgi's own 8 KB stream buffers, taken
  /// in `FCGX_Accept_r`, still do: 2–3% of a worker's samples at 100,000 contacts). Not
  /// `withUnsafeTemporaryAllocation`: on Linux it takes 16 KB from the heap too.
  private func readBody(_ request: UnsafeMutablePointer<FCGX_Request>) -> (bytes: [UInt8], exceededLimit: Bool) {
    bodyChunk.withUnsafeMutableBufferPointer { chunk in
      var body: [UInt8] = []
      while true {
        let count = Int(FCGX_GetStr(chunk.baseAddress, Int32(chunk.count), request.pointee.in))
        if count <= 0 { return (body, false) }
        if body.count + count > maximumBodyBytes { return ([], true) }
        body.append(contentsOf: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(chunk)[0..<count]))
      }
    }
  }
}
