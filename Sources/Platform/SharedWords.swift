internal import Glibc
internal import Synchronization

/// A small file of 64-bit words mapped `MAP_SHARED` into every process that opens it: what
/// unrelated processes on one host (pool workers, admin commands) use to agree on a few numbers
/// without a syscall per read. Every load and store is a sequentially consistent atomic on
/// naturally aligned words, so a process reads either the old or the new value of a word, never
/// a mix, and no store is reordered around another; lock-free 64-bit atomics are address-free
/// on Linux (x86-64, AArch64), so they hold between processes too.
///
/// The file is never synced: its contents are as the page cache holds them, and after a crash
/// of the host whatever reached the disk, at any moment. Callers keep anything that must survive
/// a reboot elsewhere, and must recognise a stale file themselves (see `bootIdentifier()`).
public final class SharedWords {
  /// How many words the mapping holds.
  public let count: Int
  /// The file mapped (to tell that the path now names another file).
  public let identity: FileIdentity
  /// Whether the file was shorter than `count` words when opened (new, or cut short): the missing
  /// words read 0.
  public let wasShort: Bool
  private let file: FileDescriptor
  private let words: UnsafeMutablePointer<Atomic<UInt64>>

  /// Opens (creating it if needed, mode 0600) the file at `path`, makes it at least `count`
  /// words long (new bytes are zeros), and maps its first `count` words.
  ///
  /// - Throws: `SystemError` from `open`, `fstat`, `ftruncate` or `mmap`.
  public init(path: String, count: Int) throws(SystemError) {
    precondition(count > 0 && count * 8 <= 4096, "one page at most")
    let file = try FileDescriptor(open: path, [.readWrite, .create], mode: 0o600)
    let bytes = count * 8
    let before = try file.identity()
    wasShort = before.size < Int64(bytes)
    if wasShort { try file.truncate(to: Int64(bytes)) }
    let descriptor = file.rawValue
    let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
    guard let address, address != MAP_FAILED else {
      throw SystemError(syscall: "mmap", path: path, code: errno)
    }
    self.count = count
    identity = before
    words = address.bindMemory(to: Atomic<UInt64>.self, capacity: count)
    self.file = file
  }

  deinit { Syscall.bestEffort("munmap") { munmap(UnsafeMutableRawPointer(words), count * 8) } }

  /// Word `index`, loaded atomically.
  public subscript(index: Int) -> UInt64 {
    precondition(index >= 0 && index < count)
    return words[index].load(ordering: .sequentiallyConsistent)
  }

  /// Stores `value` in word `index` atomically.
  public func store(_ value: UInt64, at index: Int) {
    precondition(index >= 0 && index < count)
    words[index].store(value, ordering: .sequentiallyConsistent)
  }

  /// The words of the file at `path` as its bytes are now, read with `pread(2)` and without
  /// mapping, creating or changing it (for a reader that must not change a byte); `nil` when
  /// there is no such file.
  public static func read(path: String) throws(SystemError) -> [UInt64]? {
    guard let bytes = try FileSystem.contents(of: path) else { return nil }
    return stride(from: 0, to: bytes.count - 7, by: 8).map { start in
      (0..<8).reduce(UInt64(0)) { value, index in value | UInt64(bytes[start + index]) << (8 * UInt64(index)) }
    }
  }

  /// This boot of the host: the 16 bytes of `/proc/sys/kernel/random/boot_id` (a random UUID the
  /// kernel makes at each boot) as two words. Shared memory from before a reboot is recognised
  /// by it.
  ///
  /// - Throws: `SystemError` when the file cannot be read or does not hold a UUID.
  public static func bootIdentifier() throws(SystemError) -> (UInt64, UInt64) {
    let path = "/proc/sys/kernel/random/boot_id"
    let text = try FileSystem.contents(of: path) ?? []
    let digits = text.compactMap { byte -> UInt64? in
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
      default: nil
      }
    }
    guard digits.count == 32 else { throw SystemError(syscall: "read", path: path, code: EINVAL) }
    let high = digits[..<16].reduce(UInt64(0)) { $0 << 4 | $1 }
    let low = digits[16...].reduce(UInt64(0)) { $0 << 4 | $1 }
    return (high, low)
  }
}
