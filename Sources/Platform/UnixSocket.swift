internal import Glibc

/// Unix stream sockets: the listening socket every worker accepts on, and probes of it.
public enum UnixSocket {
  /// Descriptor 0, where a FastCGI parent (the supervisor, spawn-fcgi, systemd) puts the socket.
  public static let inheritedDescriptor: Int32 = 0

  /// Whether `descriptor` is a listening socket (`SO_ACCEPTCONN`), as it is when a FastCGI
  /// parent hands one over.
  public static func isListening(_ descriptor: Int32) -> Bool {
    var accepting: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    let result = try? Syscall.call("getsockopt") {
      getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length)
    }
    return result != nil && accepting != 0
  }

  /// Makes `accept(2)` on the listening socket `descriptor` return `EAGAIN` instead of waiting
  /// (`O_NONBLOCK`): workers wait for a connection with `poll(2)` and a timeout, so that an idle
  /// one gets to check, a few times a second, whether it was asked to stop (no signal ever
  /// interrupts libfcgi), and one that holds answers can look for a waiting request without
  /// blocking. The flag belongs to the socket's open file description, which every worker
  /// shares: all of them wait this way. Accepted sockets do not inherit it.
  ///
  /// - Throws: `SystemError` from `fcntl(2)`.
  public static func setNonBlocking(_ descriptor: Int32) throws(SystemError) {
    let flags = try Syscall.call("fcntl") { fcntl(descriptor, F_GETFL) }
    if flags & O_NONBLOCK != 0 { return }
    _ = try Syscall.call("fcntl") { fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) }
  }

  /// Creates a unix stream socket at `path` and listens on it.
  ///
  /// A stale socket file left by a dead server is replaced; a socket something still answers on
  /// is an error, so two servers never fight over one path. The file gets `mode` (0660 by
  /// default: nginx reaches it through the group, nobody else at all), then `group` if one is
  /// named, both before the socket listens. The process's umask is neither used nor touched.
  ///
  /// - Returns: the listening descriptor, `O_CLOEXEC` (a worker gets it by `dup2` onto 0).
  /// - Throws: `SystemError` naming the failed syscall.
  public static func listen(path: String, mode: UInt32 = 0o660, group: String? = nil, backlog: Int32 = 1024)
    throws(SystemError) -> Int32
  {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let pathBytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard pathBytes.count < capacity else {
      throw SystemError(syscall: "bind", path: path, code: ENAMETOOLONG)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: pathBytes)
      raw[pathBytes.count] = 0
    }
    let length = socklen_t(MemoryLayout<sockaddr_un>.size)

    if try FileSystem.identity(of: path) != nil {
      if isAnswering(&address, length) { throw SystemError(syscall: "bind", path: path, code: EADDRINUSE) }
      try FileSystem.removeIfPresent(path)
    }

    let descriptor = try Syscall.call("socket", path: path) {
      socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }
    do throws(SystemError) {
      // The file gets its mode and group between bind and listen. No umask is set around bind:
      // the mask belongs to the whole process, and changing it, even for a moment, changed the
      // mode of whatever another thread (or a child it started) created meanwhile. Until
      // listen, a connect is refused whatever the file's mode says.
      try Syscall.call("bind", path: path) {
        withUnsafePointer(to: &address) { pointer in
          pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
      }
      try Syscall.call("chmod", path: path) { chmod(path, mode_t(mode)) }
      if let group {
        guard let entry = getgrnam(group) else { throw SystemError(syscall: "getgrnam", path: group, code: ENOENT) }
        try Syscall.call("chown", path: path) { chown(path, uid_t.max, entry.pointee.gr_gid) }
      }
      try Syscall.call("listen", path: path) { Glibc.listen(descriptor, backlog) }
    } catch {
      _ = close(descriptor)
      throw error
    }
    return descriptor
  }

  /// Connects to the unix stream socket at `path`.
  ///
  /// - Returns: the connected socket (`O_CLOEXEC`).
  /// - Throws: `SystemError` naming `connect` (ENOENT: nothing there; ECONNREFUSED: nobody
  ///   listens).
  public static func connect(path: String) throws(SystemError) -> FileDescriptor {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let pathBytes = Array(path.utf8)
    guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw SystemError(syscall: "connect", path: path, code: ENAMETOOLONG)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: pathBytes)
      raw[pathBytes.count] = 0
    }
    let descriptor = try Syscall.call("socket", path: path) {
      socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }
    let file = FileDescriptor(adopting: descriptor, path: path)
    let length = socklen_t(MemoryLayout<sockaddr_un>.size)
    try Syscall.call("connect", path: path) {
      withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, length) }
      }
    }
    return file
  }

  /// Sends `request` on a new connection to the unix socket at `path` and reads the answer to
  /// its end (the peer closes): a tiny HTTP/1.0 client for loopback services such as nginx's
  /// event publisher. Gives up after `timeoutMilliseconds` of silence.
  ///
  /// - Returns: the bytes received.
  public static func exchange(path: String, request: [UInt8], timeoutMilliseconds: Int = 2000) throws(SystemError)
    -> [UInt8]
  {
    let file = try connect(path: path)
    var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
    for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
      try Syscall.call("setsockopt", path: path) {
        setsockopt(file.rawValue, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
      }
    }
    try file.writeAll(request)
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = try Syscall.call("read", path: path) {
        chunk.withUnsafeMutableBytes { Glibc.read(file.rawValue, $0.baseAddress, $0.count) }
      }
      if count == 0 { return response }
      response.append(contentsOf: chunk[0..<count])
    }
  }

  /// Whether something accepts connections at `address` (`connect(2)` succeeds): a live server,
  /// as opposed to a stale socket file whose server is gone (`ECONNREFUSED`).
  private static func isAnswering(_ address: inout sockaddr_un, _ length: socklen_t) -> Bool {
    guard
      let probe = try? Syscall.call(
        "socket", { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
    else { return false }
    defer { _ = close(probe) }
    let connected = try? Syscall.call("connect") {
      withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(probe, $0, length) }
      }
    }
    return connected != nil
  }
}
