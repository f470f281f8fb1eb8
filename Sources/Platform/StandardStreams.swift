internal import Glibc

/// Unbuffered writes to standard error: each call is one `write(2)`, so lines from several
/// processes sharing the stream do not interleave.
public enum StandardError {
  public static func write(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { buffer in Syscall.bestEffort("write") { Glibc.write(2, buffer.baseAddress, buffer.count) } }
  }
}

/// Standard output, for commands that print results (`import`, `check`).
public enum StandardOutput {
  public static func write(_ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { buffer in Syscall.bestEffort("write") { Glibc.write(1, buffer.baseAddress, buffer.count) } }
  }
}
