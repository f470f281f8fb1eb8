import ContactsCore
import Platform

/// `contacts-fcgi backup`: a copy of a data directory that is in use, taken without stopping
/// writers for longer than one journal append.
///
/// Under the directory's lock (where every writer is, between its appends) it only opens the
/// files: the journal, noting its size; the snapshot; every `users-`/`queues-` file; the history,
/// noting its size. Then it lets go, and copies from those open files: a compaction that renames
/// a new snapshot and journal into place, or removes an old directory file, meanwhile changes
/// nothing that the open descriptors read. Snapshot, directory files and the history are never
/// rewritten in place; the journal is only appended to, and cut back only past a torn line, so its
/// first noted bytes up to the last newline are the journal as it was, plus at most records
/// written after the lock was let go, which belong there in order.
///
/// Every write acknowledged before the backup took the lock is in the copy, and nothing that may
/// not be on disk: the journal is copied up to the durable watermark noted under the lock (a
/// write is acknowledged only once the watermark covers it; lines past it may yet be cut off by
/// a failed flush). Without a watermark for the journal, it syncs the journal under the lock and
/// copies all of it. The copy goes to a hidden folder beside
/// the destination, is synced, checked as `contacts-fcgi check` would, and only then renamed to
/// the destination: a backup killed part-way leaves no folder there to be taken for a whole one.
public enum Backup {
  /// What was copied.
  public struct Report: Sendable {
    /// The copy, checked.
    public var check: StoreCheck
    public var files: [String]
    public var bytes: Int64
    /// Nanoseconds the directory's lock was held.
    public var lockedNanoseconds: UInt64
  }

  /// A file opened under the lock, read after it is let go.
  private final class OpenFile {
    let file: FileDescriptor
    /// The bytes to copy (the size noted under the lock).
    let length: Int64

    init(_ file: consuming FileDescriptor, length: Int64) {
      self.file = file
      self.length = length
    }
  }

  /// Copies the data directory `source` to `destination`, which must not exist yet.
  ///
  /// - Parameter beforeRename: called once the copy is complete and checked, before it is
  ///   renamed into place (a test stops the process there).
  /// - Throws: `StoreError` when the source cannot be read or locked, the destination exists,
  ///   or the copy does not pass the check (then nothing is left at `destination`).
  public static func run(from source: String, to destination: String, beforeRename: () -> Void = {})
    throws(StoreError) -> Report
  {
    let layout = StoreLayout(directory: FileSystem.absolute(source))
    let target = FileSystem.absolute(destination)
    let parent = FileSystem.parentDirectory(of: target)
    let name = String(target.split(separator: "/").last ?? "backup")
    let partialPrefix = ".\(name).partial-"
    let partial = "\(parent)/\(partialPrefix)\(Processes.currentID)"
    try StoreError.wrapping { () throws(SystemError) in
      guard try FileSystem.identity(of: target) == nil else {
        throw SystemError(syscall: "backup", path: target, code: SystemError.fileExists)
      }
      guard try FileSystem.identity(of: layout.snapshot) != nil else {
        throw SystemError(syscall: "open", path: layout.snapshot, code: SystemError.noSuchFile)
      }
      // What a killed backup to the same destination left.
      for entry in try FileSystem.entries(of: parent) where entry.hasPrefix(partialPrefix) {
        try FileSystem.removeFlatDirectoryIfPresent("\(parent)/\(entry)")
      }
      try FileSystem.createDirectory(partial, mode: 0o700)
    }
    do throws(StoreError) {
      let (opened, lockedNanoseconds) = try openUnderLock(layout)
      var copied: [String] = []
      var bytes: Int64 = 0
      try StoreError.wrapping { () throws(SystemError) in
        for (file, open) in try chooseFiles(opened) {
          bytes += try copy(open, to: "\(partial)/\(file)", wholeLinesOnly: file.hasSuffix(".jsonl"))
          copied.append(file)
        }
        try FileSystem.syncDirectory(containing: "\(partial)/\(StoreLayout.snapshotName)")
      }
      let check = StoreCheck.run(directory: partial)
      guard check.isHealthy else {
        throw StoreError.damaged(
          file: target, line: nil, reason: "the copy does not pass the check: \(check.damage.joined(separator: "; "))")
      }
      beforeRename()
      try StoreError.wrapping { () throws(SystemError) in
        try FileSystem.rename(partial, to: target)
        try FileSystem.syncDirectory(containing: target)
      }
      return Report(check: check, files: copied.sorted(), bytes: bytes, lockedNanoseconds: lockedNanoseconds)
    } catch {
      try? FileSystem.removeFlatDirectoryIfPresent(partial)
      throw error
    }
  }

  /// Opens every file of the directory under its lock, noting the sizes of those that grow.
  private static func openUnderLock(_ layout: StoreLayout) throws(StoreError) -> ([String: OpenFile], UInt64) {
    let lock: FileLock
    do {
      lock = try FileLock(path: layout.lock)
    } catch {
      throw .system(error)
    }
    var opened: [String: OpenFile] = [:]
    var lockedNanoseconds: UInt64 = 0
    do {
      try lock.withExclusiveLock { () throws(SystemError) in
        let started = Clock.monotonicNanoseconds()
        defer { lockedNanoseconds = Clock.monotonicNanoseconds() - started }
        for name in try FileSystem.entries(of: layout.directory)
        where name == StoreLayout.snapshotName || name == StoreLayout.journalName || name == StoreLayout.historyName
          || StoreLayout.isDirectoryFile(name)
        {
          guard let file = try FileDescriptor.openIfPresent(layout.path(name)) else { continue }
          let identity = try file.identity()
          var length = identity.size
          if name == StoreLayout.journalName {
            if let record = DurableWatermark.peek(layout), record.names(identity) {
              length = min(length, record.durable)
            } else {
              try file.syncData()
            }
          }
          opened[name] = OpenFile(file, length: length)
        }
      }
    } catch let error as SystemError {
      throw .system(error)
    } catch {
      throw .damaged(file: StoreLayout.lockName, line: nil, reason: "\(error)")
    }
    return (opened, lockedNanoseconds)
  }

  /// The files the copy needs: snapshot, journal, history, and the directory files the snapshot
  /// or the journal's imports name (older ones await removal by the next compaction).
  private static func chooseFiles(_ opened: [String: OpenFile]) throws(SystemError) -> [(String, OpenFile)] {
    guard let snapshot = opened[StoreLayout.snapshotName], let journal = opened[StoreLayout.journalName] else {
      throw SystemError(syscall: "open", path: StoreLayout.journalName, code: SystemError.noSuchFile)
    }
    var referenced: Set<String> = []
    var generation: UInt64 = 0
    if let bytes = try? snapshot.file.readToEnd(),
      let read = try? StoredContactsReader.reading(
        bytes, file: StoreLayout.snapshotName, { (reader) throws(StoreError) in try reader.snapshot() })
    {
      referenced.formUnion(read.files.values)
      generation = read.generation
    }
    let journalBytes = Array(try journal.file.readToEnd().prefix(Int(journal.length)))
    for entry in Journal.Scan(journalBytes, at: 0, firstLine: 1, after: generation).entries {
      if case .directoryImport(_, let file, _) = entry.record.operation { referenced.insert(file) }
    }
    return opened.filter { name, _ in !StoreLayout.isDirectoryFile(name) || referenced.contains(name) }
      .map { ($0.key, $0.value) }
  }

  /// Copies `open`'s noted bytes to a new file at `path` and syncs it; a journal or history is
  /// cut back to its last complete line.
  private static func copy(_ open: OpenFile, to path: String, wholeLinesOnly: Bool) throws(SystemError) -> Int64 {
    let output = try FileDescriptor(open: path, [.readWrite, .create, .exclusive], mode: 0o600)
    var length = try open.file.copy(first: open.length, to: output)
    if wholeLinesOnly {
      let bytes = try output.readToEnd()
      let whole = Int64((bytes.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1)
      if whole < length {
        try output.truncate(to: whole)
        length = whole
      }
    }
    try output.sync()
    return length
  }
}
