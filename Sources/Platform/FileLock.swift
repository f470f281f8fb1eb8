internal import Glibc

/// An exclusive `flock(2)` on a dedicated lock file.
///
/// The lock file holds no data on purpose: POSIX `fcntl` locks are dropped when *any*
/// descriptor of the file is closed by the process, and `flock` locks belong to the open file
/// description, so keeping the lock on a file nobody else opens avoids both surprises. The
/// descriptor is `O_CLOEXEC`, so spawned processes never inherit the lock.
public struct FileLock: ~Copyable {
  private let file: FileDescriptor

  /// Opens (creating it if needed) the lock file at `path`.
  public init(path: String) throws(SystemError) {
    file = try FileDescriptor(open: path, [.readWrite, .create], mode: 0o600)
  }

  /// Runs `body` while holding the exclusive lock; waits for other holders first.
  ///
  /// - Throws: `SystemError` from `flock(2)`, or whatever `body` throws.
  public func withExclusiveLock<Result, Failure: Error>(
    _ body: () throws(Failure) -> Result
  ) throws -> Result {
    try Syscall.call("flock", path: file.path) { flock(file.rawValue, LOCK_EX) }
    defer { Syscall.bestEffort("flock") { flock(file.rawValue, LOCK_UN) } }
    return try body()
  }

  /// Runs `body` holding the exclusive lock if no one else holds it (`LOCK_NB`); returns `nil`
  /// at once, without running `body`, when someone does.
  ///
  /// - Throws: `SystemError` from `flock(2)` (other than "held elsewhere"), or whatever `body`
  ///   throws.
  public func withExclusiveLockIfFree<Result, Failure: Error>(
    _ body: () throws(Failure) -> Result
  ) throws -> Result? {
    guard try tryLock() else { return nil }
    defer { Syscall.bestEffort("flock") { flock(file.rawValue, LOCK_UN) } }
    return try body()
  }

  /// `flock(LOCK_EX | LOCK_NB)`: `false` when another open file holds the lock.
  private func tryLock() throws(SystemError) -> Bool {
    while flock(file.rawValue, LOCK_EX | LOCK_NB) != 0 {
      let code = errno
      if code == EWOULDBLOCK { return false }
      if code != EINTR { throw SystemError(syscall: "flock", path: file.path, code: code) }
    }
    return true
  }
}

/// An exclusive open-file-description record lock (`fcntl(2)` `F_OFD_SETLK`) on one byte of a
/// dedicated lock file, taken without waiting: many independent locks in one file (one per
/// idempotency key's stripe).
///
/// OFD locks belong to the open file (not the process, as classic POSIX locks do), so two
/// opens in one process exclude each other as two processes do, and closing another descriptor
/// of the file drops nothing. The file is opened here once per lock and used for nothing else.
public final class ByteRangeLock {
  private let file: FileDescriptor

  private init(file: consuming FileDescriptor) { self.file = file }

  /// `F_OFD_SETLK` (Linux 3.15 and later): glibc declares it only under `_GNU_SOURCE`, which the
  /// Swift module does not see.
  static let setOpenFileDescriptionLock: Int32 = 37

  /// Locks byte `index` of the file at `path` (created if needed).
  ///
  /// - Returns: the lock (released when the value is dropped), or `nil` when another process
  ///   holds that byte.
  /// - Throws: `SystemError` from `open(2)` or `fcntl(2)`.
  public static func tryLock(path: String, byte index: Int) throws(SystemError) -> ByteRangeLock? {
    let file = try FileDescriptor(open: path, [.readWrite, .create], mode: 0o600)
    var lock = flock()
    lock.l_type = Int16(F_WRLCK)
    lock.l_whence = Int16(SEEK_SET)
    lock.l_start = off_t(index)
    lock.l_len = 1
    lock.l_pid = 0  // required by OFD locks
    do {
      try Syscall.call("fcntl", path: path) { fcntl(file.rawValue, Self.setOpenFileDescriptionLock, &lock) }
    } catch  where error.code == EAGAIN || error.code == EACCES {
      return nil
    }
    return ByteRangeLock(file: file)
  }
}
