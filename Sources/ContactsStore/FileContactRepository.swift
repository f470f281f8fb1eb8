public import ContactsCore
public import Platform

/// The data directory, shared by every worker process (see README.md beside this file).
///
/// Each worker keeps the parsed state in memory. Per request it `stat`s the journal: the same
/// file at the same size means nothing changed and costs nothing more; a larger file means new
/// complete lines to apply; another file (after a compaction) means finishing the old one and
/// continuing in the new one. A writer holds the exclusive lock from its refresh to its
/// `fdatasync`, so writes are serialized, see every earlier write, and never lose one.
///
/// Not thread-safe: one per worker process, used by one thread.
public final class FileContactRepository: ContactRepository {
  public let layout: StoreLayout
  private let lock: FileLock
  private var journal: JournalHandle
  private var state = DirectoryState()
  /// The directory file (`users-<g>.json`, `queues-<g>.json`) each type was last imported from.
  private var directoryFiles: [ContactType: String] = [:]
  private var needsReload = false
  private let log: (String) -> Void

  /// A journal larger than this (and than a quarter of the snapshot) is compacted into a new
  /// snapshot.
  public var compactionThresholdBytes: Int64 = 1 << 20

  /// The journal syscalls a test can make fail (`faultInjection`).
  public enum JournalOperation: Sendable {
    /// Reading the journal's new lines (a refresh or a reload).
    case read
    /// Appending a record.
    case append
    /// `fdatasync` after an append.
    case sync
  }

  /// Test seam: called just before each of those journal syscalls; an error it throws is
  /// handled exactly as if the syscall had failed with it (the hook may first write a partial
  /// line itself, as a short write would). Root ignores file modes, so tests cannot make the
  /// disk fail otherwise. Always `nil` outside tests.
  public var faultInjection: ((JournalOperation) throws(SystemError) -> Void)?

  /// Opens (creating it if needed) the data directory at `path` and loads it.
  ///
  /// - Parameter log: receives a line for recoveries and failures worth an operator's eye.
  /// - Throws: `StoreError` when the directory cannot be created or read.
  public init(directory path: String, log: @escaping (String) -> Void = { _ in }) throws(StoreError) {
    layout = StoreLayout(directory: FileSystem.absolute(path))
    self.log = log
    do {
      try FileSystem.createDirectory(layout.directory, mode: 0o700)
      lock = try FileLock(path: layout.lock)
    } catch {
      throw .system(error)
    }
    let layout = self.layout
    try Self.locked(lock) { () throws(StoreError) in try Self.initialize(layout) }
    journal = try JournalHandle.open(layout.journal)
    try reload()
  }

  /// The generation this worker has applied (for status pages).
  public var generation: UInt64 { state.generation }

  // MARK: ContactRepository

  /// - Throws: `ContactStoreUnavailable` when the files cannot be read (the next call reloads).
  public func currentState() throws -> DirectoryState {
    try available(writing: false) { () throws(StoreError) in try refresh() }
    return state
  }

  /// - Throws: what `decide` threw, or `ContactStoreUnavailable` when the store could not be
  ///   read or the record not made durable (nothing acknowledged; the next call reloads).
  public func commit(by user: String, _ decide: (DirectoryState) throws -> ContactChange) throws -> DirectoryState {
    do {
      return try Self.locked(lock) { () throws -> DirectoryState in
        try available(writing: true) { () throws(StoreError) in try refreshForWriting() }
        let change = try decide(state)
        let record = JournalRecord(
          sequence: state.generation + 1, timestamp: Clock.timestamp(), user: user, operation: .change(change))
        try available(writing: true) { () throws(StoreError) in try append(record) }
        compactIfLarge()
        return state
      }
    } catch let error as StoreError {
      // Only taking or releasing the lock itself throws a StoreError here.
      needsReload = true
      throw ContactStoreUnavailable(reason: "\(error)", duringWrite: true)
    }
  }

  /// Runs a read or write of the files; on failure drops the cached state, so that the next
  /// call starts from the files again (the fault may be gone by then: a disk that had filled,
  /// a file restored), and reports the store as unavailable (503) rather than as a bug (500).
  private func available<Result>(writing: Bool, _ body: () throws(StoreError) -> Result)
    throws(ContactStoreUnavailable) -> Result
  {
    do {
      return try body()
    } catch {
      needsReload = true
      throw ContactStoreUnavailable(reason: "\(error)", duringWrite: writing)
    }
  }

  // MARK: Import

  /// What an import did, or would do with `dryRun`.
  public struct ImportSummary: Equatable, Sendable {
    public var added: [String] = []
    public var changed: [String] = []
    public var removed: [String] = []
    public var unchanged = 0
    public var generation: UInt64 = 0
  }

  /// Replaces every contact of `type` (Queue or User) with `contacts`, atomically.
  ///
  /// - Parameter allowEmpty: whether an import may remove every existing contact of `type`
  ///   (an empty file). Without it that is refused: a header-only CSV export or an empty array
  ///   is far more often a broken export than an intent to delete the whole directory.
  /// - Throws: `StoreError.invalidImport` when an id is repeated or already belongs to a
  ///   contact of another type, `StoreError.importRemovesAll` for an empty import that
  ///   `allowEmpty` does not allow (also on a dry run); nothing is changed then.
  public func importDirectory(
    _ type: ContactType, contacts: [Contact], by user: String, dryRun: Bool = false, allowEmpty: Bool = false
  ) throws -> ImportSummary {
    precondition(type != .custom, "custom contacts are not imported")
    return try Self.locked(lock) { () throws -> ImportSummary in
      try refreshForWriting()
      var summary = ImportSummary()
      var seen: Set<String> = []
      for contact in contacts {
        guard seen.insert(contact.id).inserted else {
          throw StoreError.invalidImport("id '\(contact.id)' appears more than once")
        }
        if let existing = state.contact(id: contact.id) {
          guard existing.contact.type == type else {
            throw StoreError.invalidImport(
              "id '\(contact.id)' already belongs to a \(existing.contact.type.rawValue) contact; ids must be unique")
          }
          var comparable = contact
          comparable.version = existing.contact.version
          if comparable == existing.contact { summary.unchanged += 1 } else { summary.changed.append(contact.id) }
        } else {
          summary.added.append(contact.id)
        }
      }
      summary.removed = state.entries.filter { $0.contact.type == type && !seen.contains($0.contact.id) }.map(
        \.contact.id)
      if contacts.isEmpty && !summary.removed.isEmpty && !allowEmpty {
        throw StoreError.importRemovesAll(type: type, existing: summary.removed.count)
      }
      let sequence = state.generation + 1
      summary.generation = sequence
      if dryRun { return summary }

      let file = StoreLayout.directoryFileName(type, generation: sequence)
      do throws(SystemError) {
        try FileSystem.replaceAtomically(layout.path(file), with: DirectoryFile.encode(contacts, type: type))
      } catch {
        throw StoreError.system(error)
      }
      try append(
        JournalRecord(
          sequence: sequence, timestamp: Clock.timestamp(), user: user,
          operation: .directoryImport(type: type, file: file, count: contacts.count)),
        importing: contacts)
      compactIfLarge()
      return summary
    }
  }

  // MARK: Reading

  /// Brings the in-memory state up to date with the directory (one `stat` when nothing changed).
  private func refresh() throws(StoreError) {
    if needsReload {
      try reload()
      return
    }
    let current: FileIdentity?
    do { current = try FileSystem.identity(of: layout.journal) } catch { throw .system(error) }
    guard let current else {
      throw .damaged(file: StoreLayout.journalName, line: nil, reason: "the journal is missing")
    }
    if current.isSameFile(as: journal.identity) {
      if current.size > journal.offset { try applyJournalTail() }
      // Smaller than what was applied: a writer cut off a record whose fdatasync failed after
      // this worker had read it. That record was never acknowledged; forget it.
      if current.size < journal.offset { try reload() }
      return
    }
    // A compaction replaced the journal: finish the old one, then go on in the new one if it
    // starts where this worker is; otherwise load everything again.
    try applyJournalTail()
    let next = try JournalHandle.open(layout.journal)
    if let base = try next.readBase(), base == state.generation {
      journal = next
      try applyJournalTail()
    } else {
      try reload()
    }
  }

  /// `refresh()`, then drops a torn last line (under the lock nobody else is writing it).
  private func refreshForWriting() throws(StoreError) {
    try refresh()
    do {
      let size = try journal.file.identity().size
      if size > journal.offset {
        log("journal: dropping \(size - journal.offset) bytes of an incomplete last line left by a killed writer")
        try journal.file.truncate(to: journal.offset)
        try journal.file.syncData()
      }
    } catch {
      throw .system(error)
    }
  }

  /// Loads snapshot, directory files and journal from scratch.
  private func reload() throws(StoreError) {
    var attempts = 0
    while true {
      do {
        // The journal is opened before the snapshot is read: if a compaction lands in between,
        // the old journal still holds every record up to the new snapshot (see README.md).
        let handle = try JournalHandle.open(layout.journal)
        let snapshot = try Snapshot.read(layout)
        var contacts = snapshot.custom
        for (type, file) in snapshot.directoryFiles {
          contacts += try DirectoryFile.read(
            layout.path(file), type: type, version: DirectoryFile.generation(ofFile: file))
        }
        state = DirectoryState(indexed: contacts, generation: snapshot.generation)
        directoryFiles = snapshot.directoryFiles
        journal = handle
        needsReload = false
        try applyJournalTail()
        return
      } catch StoreError.system(let error) where error.code == SystemError.noSuchFile && attempts < 3 {
        attempts += 1  // a concurrent compaction removed a file just read about: start again
      }
    }
  }

  /// Applies every complete line past the journal's offset.
  ///
  /// Changes are gathered and applied to the state in one pass (a linear merge), so a worker
  /// loading a long journal does not pay a sorted insertion per record. An import in the
  /// middle applies what was gathered before it, keeping the order of the records.
  private func applyJournalTail() throws(StoreError) {
    let bytes: [UInt8]
    do {
      try faultInjection?(.read)
      bytes = try journal.file.readToEnd(from: journal.offset)
    } catch {
      throw .system(error)
    }
    var pending = PendingChanges()
    var position = 0
    while let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) {
      let line = bytes[position..<newline]
      if journal.offset == 0 && position == 0 {
        guard JournalRecord.base(fromHeader: line) != nil else {
          throw .damaged(file: StoreLayout.journalName, line: 1, reason: "the first line is not a journal header")
        }
      } else if let record = JournalRecord(line: line) {
        let generation = max(state.generation, pending.generation)
        if record.sequence > generation {
          guard record.sequence == generation + 1 else {
            throw .damaged(
              file: StoreLayout.journalName, line: nil,
              reason: "record \(record.sequence) follows generation \(generation): records are missing")
          }
          if case .change(let change) = record.operation {
            pending.add(change, sequence: record.sequence)
          } else {
            pending.apply(to: &state)
            try apply(record, importing: nil)
          }
        }
      } else if bytes[(newline + 1)...].contains(UInt8(ascii: "\n")) {
        throw .damaged(
          file: StoreLayout.journalName, line: nil,
          reason: "an unreadable record at byte \(journal.offset + Int64(position)) is followed by more records")
      } else {
        break  // an unreadable last line is a torn write: ignored, and truncated by the next writer
      }
      position = newline + 1
    }
    pending.apply(to: &state)
    journal.offset += Int64(position)
  }

  private func apply(_ record: JournalRecord, importing contacts: [Contact]?) throws(StoreError) {
    switch record.operation {
    case .change(.create(let contact)), .change(.update(let contact)):
      state.upsert(contact, generation: record.sequence)
    case .change(.delete(let id)):
      state.remove(id: id, generation: record.sequence)
    case .directoryImport(let type, let file, _):
      let imported: [Contact]
      if let contacts {
        imported = contacts
      } else {
        do {
          imported = try DirectoryFile.read(layout.path(file), type: type, version: record.sequence).map(\.contact)
        } catch StoreError.system(let error) where error.code == SystemError.noSuchFile {
          // Compacted away since: a full reload finds the current file.
          needsReload = true
          return
        }
      }
      state.replaceAll(ofType: type, with: imported, generation: record.sequence)
      directoryFiles[type] = file
    }
  }

  // MARK: Writing (under the lock)

  /// Appends `record`, makes it durable with `fdatasync(2)`, then applies it.
  ///
  /// On failure the line is cut off again and the worker reloads before its next request: an
  /// `fsync` error is not retried, since the kernel may already have dropped the dirty pages.
  private func append(_ record: JournalRecord, importing contacts: [Contact]? = nil) throws(StoreError) {
    let line = record.line
    do {
      try faultInjection?(.append)
      try journal.file.writeAll(line)
      try faultInjection?(.sync)
      try journal.file.syncData()
    } catch {
      log("journal: write of record \(record.sequence) failed, not acknowledged: \(error)")
      do {
        try journal.file.truncate(to: journal.offset)
      } catch let truncation {
        // The next writer cuts it off under the lock (a torn line), or, if the line is whole,
        // it stays: a change answered with 503 may then be there after all.
        log("journal: could not cut off the failed record \(record.sequence): \(truncation)")
      }
      needsReload = true
      throw .system(error)
    }
    journal.offset += Int64(line.count)
    try apply(record, importing: contacts)
  }

  /// Rewrites snapshot and journal when the journal has grown past the threshold. The write
  /// that triggered it is already durable, so a failure here is logged, not reported.
  private func compactIfLarge() {
    // A quarter of the snapshot keeps compaction amortized O(1) per write, and the journal a
    // new worker must replay short.
    guard journal.offset > max(compactionThresholdBytes, journal.snapshotSize / 4) else { return }
    do {
      try compact()
    } catch {
      log("compaction failed (the data is safe in the journal; it will be tried again): \(error)")
    }
  }

  /// Snapshot of the current state, then a new journal that starts from it.
  ///
  /// Crash-safe at every step: the snapshot is replaced by rename, and until the new journal
  /// replaces the old one (also by rename) the old journal's records up to the snapshot's
  /// generation are skipped on load.
  public func compact() throws {
    let bytes = Snapshot.encode(state, directoryFiles: directoryFiles)
    do throws(SystemError) {
      try FileSystem.replaceAtomically(layout.snapshot, with: bytes)
      try FileSystem.replaceAtomically(layout.journal, with: JournalRecord.header(base: state.generation))
    } catch {
      throw StoreError.system(error)
    }
    journal = try JournalHandle.open(layout.journal)
    journal.offset = Int64(JournalRecord.header(base: state.generation).count)
    journal.snapshotSize = Int64(bytes.count)
    removeUnreferencedFiles()
  }

  /// Directory files no longer named by the state, and temporary files of killed writers.
  private func removeUnreferencedFiles() {
    guard let names = try? FileSystem.entries(of: layout.directory) else { return }
    let referenced = Set(directoryFiles.values)
    for name in names where StoreLayout.isDirectoryFile(name) && !referenced.contains(name) || name.contains(".tmp-") {
      try? FileSystem.removeIfPresent(layout.path(name))
    }
  }

  /// Creates snapshot and journal in a new directory; removes temporary files of killed writers.
  private static func initialize(_ layout: StoreLayout) throws(StoreError) {
    do {
      for name in try FileSystem.entries(of: layout.directory) where name.contains(".tmp-") {
        try FileSystem.removeIfPresent(layout.path(name))
      }
      guard try FileSystem.identity(of: layout.journal) == nil else { return }
      if try FileSystem.identity(of: layout.snapshot) == nil {
        try FileSystem.replaceAtomically(layout.snapshot, with: Snapshot.encode(DirectoryState(), directoryFiles: [:]))
      }
      let generation = try Snapshot.read(layout).generation
      try FileSystem.replaceAtomically(layout.journal, with: JournalRecord.header(base: generation))
    } catch let error as SystemError {
      throw .system(error)
    } catch let error as StoreError {
      throw error
    } catch {
      throw .damaged(file: layout.directory, line: nil, reason: "\(error)")
    }
  }

  private static func locked<Result>(_ lock: borrowing FileLock, _ body: () throws -> Result) throws -> Result {
    do {
      return try lock.withExclusiveLock(body)
    } catch let error as SystemError {
      throw StoreError.system(error)
    }
  }

  private static func locked<Result>(_ lock: borrowing FileLock, _ body: () throws(StoreError) -> Result)
    throws(StoreError) -> Result
  {
    do {
      return try lock.withExclusiveLock(body)
    } catch let error as SystemError {
      throw .system(error)
    } catch let error as StoreError {
      throw error
    } catch {
      throw .damaged(file: "lock", line: nil, reason: "\(error)")
    }
  }
}

/// Changes read from the journal, not yet applied.
///
/// A few are applied one by one (a sorted insertion each moves pointers, cheap); many, as
/// when a worker loads a long journal, are applied in one linear merge with only the last
/// word on each contact. A merge touches every contact, so it only pays beyond a few dozen.
struct PendingChanges {
  private var changes: [(change: ContactChange, sequence: UInt64)] = []
  private(set) var generation: UInt64 = 0
  static let mergeThreshold = 64

  mutating func add(_ change: ContactChange, sequence: UInt64) {
    changes.append((change, sequence))
    generation = sequence
  }

  mutating func apply(to state: inout DirectoryState) {
    guard !changes.isEmpty else { return }
    if changes.count < Self.mergeThreshold {
      for (change, sequence) in changes {
        switch change {
        case .create(let contact), .update(let contact): state.upsert(contact, generation: sequence)
        case .delete(let id): state.remove(id: id, generation: sequence)
        }
      }
    } else {
      var upserts: [String: Contact] = [:]
      var removals: Set<String> = []
      for (change, sequence) in changes {
        switch change {
        case .create(var contact), .update(var contact):
          contact.version = sequence
          upserts[contact.id] = contact
          removals.remove(contact.id)
        case .delete(let id):
          upserts[id] = nil
          removals.insert(id)
        }
      }
      state.apply(upserts: Array(upserts.values), removals: removals, generation: generation)
    }
    self = PendingChanges()
  }
}

/// The open journal and how far this worker has read it.
final class JournalHandle {
  let file: FileDescriptor
  let identity: FileIdentity
  /// Bytes applied: always the end of a complete line.
  var offset: Int64 = 0
  /// The size of the snapshot this journal continues (compaction waits until the journal is larger).
  var snapshotSize: Int64 = 0

  private init(file: consuming FileDescriptor, identity: FileIdentity) {
    self.file = file
    self.identity = identity
  }

  static func open(_ path: String) throws(StoreError) -> JournalHandle {
    do {
      let file = try FileDescriptor(open: path, [.readWrite, .append])
      let identity = try file.identity()
      let snapshotSize =
        try FileSystem.identity(of: FileSystem.parentDirectory(of: path) + "/" + StoreLayout.snapshotName)?.size ?? 0
      let handle = JournalHandle(file: file, identity: identity)
      handle.snapshotSize = snapshotSize
      return handle
    } catch {
      throw .system(error)
    }
  }

  /// The header's base generation, reading the first line; sets `offset` past it.
  func readBase() throws(StoreError) -> UInt64? {
    let bytes: [UInt8]
    do { bytes = try file.readToEnd() } catch { throw .system(error) }
    guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
    offset = Int64(newline + 1)
    return JournalRecord.base(fromHeader: bytes[..<newline])
  }
}
