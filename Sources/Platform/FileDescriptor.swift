internal import Glibc

/// The identity and size of a file as `stat(2)` sees it: enough to tell that a file was
/// replaced (device and inode) or grew (size) without reading it.
public struct FileIdentity: Equatable, Sendable {
  public var device: UInt64
  public var inode: UInt64
  public var size: Int64
  public var modificationSeconds: Int

  init(_ status: stat) {
    device = UInt64(status.st_dev)
    inode = UInt64(status.st_ino)
    size = Int64(status.st_size)
    modificationSeconds = Int(status.st_mtim.tv_sec)
  }

  /// Same file on disk (it may have grown).
  public func isSameFile(as other: FileIdentity) -> Bool {
    device == other.device && inode == other.inode
  }
}

/// An owned file descriptor. Not copyable, so exactly one owner closes it.
public struct FileDescriptor: ~Copyable {
  public let rawValue: Int32
  /// The path it was opened with, for error messages.
  public let path: String

  /// Takes ownership of an already open descriptor.
  public init(adopting rawValue: Int32, path: String) {
    self.rawValue = rawValue
    self.path = path
  }

  /// `open(2)` flags (`O_CLOEXEC` is always added).
  public struct OpenOptions: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let readOnly = OpenOptions([])
    public static let readWrite = OpenOptions(rawValue: O_RDWR)
    public static let writeOnly = OpenOptions(rawValue: O_WRONLY)
    public static let create = OpenOptions(rawValue: O_CREAT)
    public static let exclusive = OpenOptions(rawValue: O_EXCL)
    public static let append = OpenOptions(rawValue: O_APPEND)
    public static let truncate = OpenOptions(rawValue: O_TRUNC)
    public static let directory = OpenOptions(rawValue: O_DIRECTORY)
  }

  /// `open(2)` with `O_CLOEXEC` always set, so no descriptor leaks into spawned workers.
  public init(open path: String, _ options: OpenOptions, mode: UInt32 = 0o600) throws(SystemError) {
    let flags = options.rawValue | O_CLOEXEC
    rawValue = try Syscall.call("open", path: path) { Glibc.open(path, flags, mode_t(mode)) }
    self.path = path
  }

  /// Opens `path` if it exists; `nil` when it does not.
  public static func openIfPresent(_ path: String, _ options: OpenOptions = .readOnly) throws(SystemError)
    -> FileDescriptor?
  {
    do {
      return try FileDescriptor(open: path, options)
    } catch  where error.code == ENOENT {
      return nil
    }
  }

  deinit { Syscall.bestEffort("close") { Glibc.close(rawValue) } }

  /// `fstat(2)`.
  public func identity() throws(SystemError) -> FileIdentity {
    var status = stat()
    try Syscall.call("fstat", path: path) { fstat(rawValue, &status) }
    return FileIdentity(status)
  }

  /// Reads from `offset` to the end of the file with `pread(2)`.
  ///
  /// Straight into the array, sized by `fstat(2)` plus one byte to notice a file that grew
  /// meanwhile (then the rest is read in chunks): a worker reads a 15 MB snapshot when it
  /// starts, and a chunk buffer copied into the array tripled the bytes touched.
  public func readToEnd(from offset: Int64 = 0) throws(SystemError) -> [UInt8] {
    let expected = max(0, Int(try identity().size - offset))
    var position = offset
    var failure: SystemError?
    var bytes = [UInt8](unsafeUninitializedCapacity: expected + 1) { buffer, initialized in
      while initialized < buffer.count {
        let count: Int
        do throws(SystemError) {
          count = try Syscall.call("pread", path: path) {
            pread(rawValue, buffer.baseAddress! + initialized, buffer.count - initialized, off_t(position))
          }
        } catch {
          failure = error
          return
        }
        if count == 0 { return }
        initialized += count
        position += Int64(count)
      }
    }
    if let failure { throw failure }
    guard bytes.count > expected else { return bytes }
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = try Syscall.call("pread", path: path) {
        chunk.withUnsafeMutableBytes { pread(rawValue, $0.baseAddress, $0.count, off_t(position)) }
      }
      if count == 0 { break }
      bytes.append(contentsOf: chunk[0..<count])
      position += Int64(count)
    }
    return bytes
  }

  /// Copies this file's first `length` bytes (fewer if it is shorter) to the end of
  /// `destination` in chunks, with `pread(2)`: the file's offset is not moved.
  ///
  /// - Returns: the bytes copied.
  public func copy(first length: Int64, to destination: borrowing FileDescriptor) throws(SystemError) -> Int64 {
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var position: Int64 = 0
    while position < length {
      let wanted = Int(min(Int64(chunk.count), length - position))
      let count = try Syscall.call("pread", path: path) {
        chunk.withUnsafeMutableBytes { pread(rawValue, $0.baseAddress, wanted, off_t(position)) }
      }
      if count == 0 { break }
      try destination.writeAll(chunk[0..<count])
      position += Int64(count)
    }
    return position
  }

  /// Writes all of `bytes` with `write(2)`, continuing after short writes.
  public func writeAll(_ bytes: some Collection<UInt8>) throws(SystemError) {
    let array = Array(bytes)
    var written = 0
    while written < array.count {
      let count = try Syscall.call("write", path: path) {
        array.withUnsafeBytes { write(rawValue, $0.baseAddress! + written, $0.count - written) }
      }
      written += count
    }
  }

  /// `fsync(2)`: data and metadata on disk.
  public func sync() throws(SystemError) {
    try Syscall.call("fsync", path: path) { fsync(rawValue) }
  }

  /// `fdatasync(2)`: data (and the size) on disk.
  public func syncData() throws(SystemError) {
    try Syscall.call("fdatasync", path: path) { fdatasync(rawValue) }
  }

  /// `ftruncate(2)`.
  public func truncate(to size: Int64) throws(SystemError) {
    try Syscall.call("ftruncate", path: path) { ftruncate(rawValue, off_t(size)) }
  }
}

/// Whole-file helpers over `FileDescriptor`.
public enum FileSystem {
  /// `stat(2)` of `path`, or `nil` when it does not exist.
  public static func identity(of path: String) throws(SystemError) -> FileIdentity? {
    var status = stat()
    do {
      try Syscall.call("stat", path: path) { fstatat(AT_FDCWD, path, &status, 0) }
      return FileIdentity(status)
    } catch  where error.code == ENOENT {
      return nil
    }
  }

  /// Reads a whole file, or `nil` when it does not exist.
  public static func contents(of path: String) throws(SystemError) -> [UInt8]? {
    guard let file = try FileDescriptor.openIfPresent(path) else { return nil }
    return try file.readToEnd()
  }

  /// Replaces `path` with `bytes` so that a reader sees the old or the new file, never a mix,
  /// and the new one survives a crash once this returns: write a temporary file beside it,
  /// `fsync(2)` it, `rename(2)` it over `path`, `fsync(2)` the directory.
  public static func replaceAtomically(_ path: String, with bytes: [UInt8], mode: UInt32 = 0o600)
    throws(SystemError)
  {
    let temporary = "\(path).tmp-\(getpid())"
    do {
      let file = try FileDescriptor(open: temporary, [.writeOnly, .create, .truncate], mode: mode)
      try file.writeAll(bytes)
      try file.sync()
    } catch {
      Syscall.bestEffort("unlink") { unlink(temporary) }
      throw error
    }
    try rename(temporary, to: path)
    try syncDirectory(containing: path)
  }

  /// `rename(2)`.
  public static func rename(_ source: String, to destination: String) throws(SystemError) {
    try Syscall.call("rename", path: destination) { Glibc.rename(source, destination) }
  }

  /// `unlink(2)`; a missing file is not an error.
  public static func removeIfPresent(_ path: String) throws(SystemError) {
    do {
      try Syscall.call("unlink", path: path) { Glibc.unlink(path) }
    } catch  where error.code == ENOENT {
      return
    }
  }

  /// `fsync(2)` of the directory holding `path`, so a rename or create in it is durable.
  public static func syncDirectory(containing path: String) throws(SystemError) {
    let directory = parentDirectory(of: path)
    let handle = try FileDescriptor(open: directory, [.readOnly, .directory])
    try handle.sync()
  }

  /// Removes a directory and the files in it (not folders within it); a missing one is not an
  /// error.
  public static func removeFlatDirectoryIfPresent(_ path: String) throws(SystemError) {
    guard try identity(of: path) != nil else { return }
    for name in try entries(of: path) { try removeIfPresent("\(path)/\(name)") }
    do {
      try Syscall.call("rmdir", path: path) { rmdir(path) }
    } catch  where error.code == ENOENT {
      return
    }
  }

  /// `mkdir(2)` of `path` and any missing parents.
  public static func createDirectory(_ path: String, mode: UInt32 = 0o700) throws(SystemError) {
    if try identity(of: path) != nil { return }
    let parent = parentDirectory(of: path)
    if parent != path, parent != "/", parent != "." { try createDirectory(parent, mode: mode) }
    do {
      try Syscall.call("mkdir", path: path) { mkdir(path, mode_t(mode)) }
    } catch  where error.code == EEXIST {
      return
    }
  }

  /// The names in a directory, without `.` and `..`.
  public static func entries(of directory: String) throws(SystemError) -> [String] {
    guard let handle = opendir(directory) else {
      throw SystemError(syscall: "opendir", path: directory, code: errno)
    }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// The directory part of `path` (`"."` for a bare name).
  public static func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
  }

  /// Makes `path` absolute against the current directory.
  public static func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return cwd == "/" ? "/" + path : cwd + "/" + path
  }
}
