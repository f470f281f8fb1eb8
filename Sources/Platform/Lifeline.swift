internal import Glibc

/// A connected socket pair that tells a child when its parent is gone, however the parent died.
///
/// The parent keeps the write end (close-on-exec, so no child holds it) and hands each child
/// the other. Nothing is ever written: when the parent exits, even by SIGKILL, the kernel
/// closes the write end and every child's read end reports end-of-file. A worker checks it
/// between requests, so an orphaned pool never keeps serving (and holding the socket) after its
/// supervisor died. Unlike `PR_SET_PDEATHSIG` it needs no variadic C call, and the check is
/// exact even for a child that started after its parent had already died.
public struct Lifeline: ~Copyable {
  /// The end the parent keeps.
  public let parentDescriptor: Int32
  /// The end each child gets (at `childDescriptor` in the child).
  public let childEndDescriptor: Int32

  /// Where a child finds its end.
  public static let childDescriptor: Int32 = 4

  /// `socketpair(2)` with `SOCK_CLOEXEC` on both ends (a pipe would do, but glibc's `pipe2` is
  /// not visible to Swift); the child's end is handed over by `dup2`, which clears the flag.
  ///
  /// - Throws: `SystemError` naming `socketpair`.
  public init() throws(SystemError) {
    var ends: [Int32] = [-1, -1]
    try Syscall.call("socketpair") {
      socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends)
    }
    childEndDescriptor = ends[0]
    parentDescriptor = ends[1]
  }

  /// Whether the parent holding the other end on `descriptor` is gone: `poll(2)`
  /// without waiting; a closed write end shows as hang-up (or readable end-of-file).
  ///
  /// - Returns: `false` when the parent is alive, or when `descriptor` is not open.
  public static func parentIsGone(descriptor: Int32 = childDescriptor) -> Bool {
    var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    guard let ready = try? Syscall.call("poll", { poll(&entry, 1, 0) }), ready > 0 else { return false }
    return entry.revents & Int16(POLLHUP | POLLIN | POLLERR) != 0
  }

  /// Whether `descriptor` is open and is a socket (so a worker started without a supervisor,
  /// by spawn-fcgi or systemd, does not mistake something else for its lifeline).
  public static func isLifeline(_ descriptor: Int32 = childDescriptor) -> Bool {
    var status = stat()
    guard (try? Syscall.call("fstat", { fstat(descriptor, &status) })) != nil else { return false }
    return status.st_mode & S_IFMT == S_IFSOCK
  }
}
