internal import Glibc

/// A failed syscall: which one, on what, and the `errno` it left.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The syscall that failed, for example `"fsync"`.
  public let syscall: String
  /// The path or other object the call was about, when there is one.
  public let path: String?
  /// The `errno` value.
  public let code: Int32

  public init(syscall: String, path: String? = nil, code: Int32) {
    self.syscall = syscall
    self.path = path
    self.code = code
  }

  /// `strerror(3)` of the code.
  public var reason: String { String(cString: strerror(code)) }

  public var description: String {
    if let path { return "\(syscall)(\(path)): \(reason) (errno \(code))" }
    return "\(syscall): \(reason) (errno \(code))"
  }

  public static let noSuchFile = ENOENT
  public static let fileExists = EEXIST
  public static let interrupted = EINTR
  public static let addressInUse = EADDRINUSE
}

/// The one way syscalls are made here.
public enum Syscall {
  /// Calls `body` until it does not fail with `EINTR`.
  ///
  /// - Parameters:
  ///   - name: the syscall's name, kept in the error.
  ///   - path: what the call is about, kept in the error.
  ///   - retryOnInterrupt: `false` where an interrupted call must return, such as a wait that a
  ///     signal should end.
  /// - Returns: the call's non-negative result.
  /// - Throws: `SystemError` with the syscall's name and `errno` when it returns -1.
  @discardableResult
  public static func call<Result: FixedWidthInteger>(
    _ name: String,
    path: String? = nil,
    retryOnInterrupt: Bool = true,
    _ body: () -> Result
  ) throws(SystemError) -> Result {
    while true {
      let result = body()
      if result != -1 { return result }
      let code = errno
      if code == EINTR && retryOnInterrupt { continue }
      throw SystemError(syscall: name, path: path, code: code)
    }
  }

  /// Makes a call whose failure changes nothing for the caller: releasing a lock or a
  /// descriptor, setting a signal disposition with valid arguments, writing a log line. Kept
  /// here so that every syscall still goes through this one type.
  public static func bestEffort<Result: FixedWidthInteger>(_ name: String, _ body: () -> Result) {
    _ = try? call(name, body)
  }
}
