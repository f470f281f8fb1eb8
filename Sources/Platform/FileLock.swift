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
}
