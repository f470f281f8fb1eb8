public import ContactsCore
public import Platform

/// The data directory, shared by every worker process (see README.md beside this file).
///
/// Each worker keeps the parsed state in memory. Per request it `stat`s the journal: the same
/// file at the same size means nothing changed and costs nothing more; a larger file means new
/// complete lines to apply; another file (after a compaction) means finishing the old one and
/// continuing in the new one. A writer holds the exclusive lock from its refresh to its append,
/// so writes are serialized, see every earlier write, and never lose one; it `fdatasync`s after
/// letting go, so that one flush covers every writer that appended before it began (group
/// commit: `FileContactRepository+GroupCommit.swift`). Readers apply only lines known flushed
/// (`DurableWatermark`).
///
/// Imports are in `FileContactRepository+Import.swift`, compaction in
/// `FileContactRepository+Compaction.swift`; the journal file itself is a `Journal`.
///
/// Not thread-safe: one per worker process, used by one thread.
public final class FileContactRepository: ContactRepository {
  public let layout: StoreLayout
  let lock: FileLock
  /// Held by the one process compacting (see `Compaction`), never while waiting for `lock`.
  let compactionLock: FileLock
  /// The journal this worker reads (and, under the lock, appends to).
  var journal: Journal
  /// How much of the journal is on disk, shared by every process (group commit).
  let watermark: DurableWatermark
  /// The size of the snapshot `journal` continues (compaction waits until the journal is larger).
  var snapshotSize: Int64 = 0
  var state = DirectoryState()
  /// The directory file (`users-<g>.json`, `queues-<g>.json`) each type was last imported from.
  private(set) var directoryFiles: [ContactType: String] = [:]
  var needsReload = false
  /// Whether `commit` returns before its change is durable, for a worker that holds its answers
  /// until `settleWrites()` (see `WorkerLoop`); `false` for every other caller.
  public var defersDurability = false
  /// The writes since the last `settleWrites()`, when `defersDurability`: what to make durable.
  var unsettled: [PendingDurability] = []
  /// The journal size at which this worker last looked for lingering unflushed lines (see
  /// `flushLingeringLines`).
  var lingeringCheckedSize: Int64 = -1
  let log: (String) -> Void

  /// A journal larger than this (and than a quarter of the snapshot) is compacted into a new
  /// snapshot, by `performMaintenance()`.
  public var compactionThresholdBytes: Int64 = 1 << 20
  /// How many of the latest changes the change feed keeps at least (across compactions).
  public var changeHistory = ChangeLog.defaultCapacity {
    didSet { state.changeLog.capacity = max(1, changeHistory) }
  }

  /// The journal syscalls a test can make fail (`faultInjection`).
  public typealias JournalOperation = ContactsStore.JournalOperation

  /// Test seam: called just before each of those journal syscalls; an error it throws is
  /// handled exactly as if the syscall had failed with it (the hook may first write a partial
  /// line itself, as a short write would). Root ignores file modes, so tests cannot make the
  /// disk fail otherwise. Always `nil` outside tests.
  public var faultInjection: ((JournalOperation) throws(SystemError) -> Void)? {
    didSet { journal.faultInjection = faultInjection }
  }

  /// How long this process's last compaction took, and how long of that it held the write lock
  /// (for benchmarks and logs).
  public internal(set) var lastCompaction: (totalNanoseconds: UInt64, writeLockNanoseconds: UInt64)?

  /// Test seam: called as each step of a compaction is done (see `CompactionStep`). Always
  /// `nil` outside tests.
  public var compactionStepHook: ((CompactionStep) -> Void)?

  /// Test seam: called when a writer has let go of the write lock after appending (or deciding),
  /// just before it looks at the durable watermark to see whether it must flush: a test lets
  /// another writer append and flush there. Always `nil` outside tests.
  public var groupCommitHook: (() -> Void)?

  /// Opens (creating it if needed) the data directory at `path` and loads it.
  ///
  /// - Parameter log: receives a line for recoveries and failures worth an operator's eye.
  /// - Throws: `StoreError` when the directory cannot be created or read.
  public init(directory path: String, log: @escaping (String) -> Void = { _ in }) throws(StoreError) {
    let layout = StoreLayout(directory: FileSystem.absolute(path))
    self.layout = layout
    self.log = log
    try StoreError.wrapping { () throws(SystemError) in try FileSystem.createDirectory(layout.directory, mode: 0o700) }
    do {
      lock = try FileLock(path: layout.lock)
      compactionLock = try FileLock(path: layout.path(StoreLayout.compactionLockName))
    } catch {
      throw .system(error)  // not `wrapping`: a non-copyable result crashes the 6.3 compiler there
    }
    try Self.initialize(layout, lock: lock, compactionLock: compactionLock)
    watermark = try DurableWatermark(layout)
    journal = try Journal.open(layout.journal, log: log)
    // A new boot, a new directory, a missing or damaged watermark file: made again (after a
    // sync of the journal) before anything is read by it.
    let current = try StoreError.wrapping { () throws(SystemError) in try FileSystem.identity(of: layout.journal) }
    if let current, watermark.read()?.names(current) != true {
      try locked { () throws(StoreError) in try ensureWatermark() }
    }
    try reload()
  }

  /// The generation this worker has applied (for status pages).
  public var generation: UInt64 { state.generation }

  /// The bytes of the journal this worker has read (its size as of the last refresh): how much
  /// a new worker replays, and how near the next compaction is (for metrics).
  public var journalBytes: Int64 { journal.offset }

  // MARK: ContactRepository

  /// - Throws: `ContactStoreUnavailable` when the files cannot be read (the next call reloads).
  public func currentState() throws -> DirectoryState {
    try available(writing: false) { () throws(StoreError) in try refresh() }
    return state
  }

  /// - Throws: what `decide` threw, `IdempotencyKeyInUse` while another request with the same
  ///   key runs, or `ContactStoreUnavailable` when the store could not be read or the record not
  ///   made durable (nothing acknowledged; the next call reloads).
  public func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState {
    // Taken before the write lock, without waiting: a retry that arrives while the first request
    // with its key still runs is told so (409) rather than queued behind it.
    let keyLock = try idempotencyKey.map { key throws -> ByteRangeLock in
      guard let lock = try available(writing: true, { () throws(StoreError) in try lockKey(user: user, key: key) })
      else { throw IdempotencyKeyInUse() }
      return lock
    }
    defer { withExtendedLifetime(keyLock) {} }
    let outcome = try available(writing: true) { () throws(StoreError) in
      // A refusal decided on lines not yet flushed waits for them too (`writing`): this worker
      // serves its state next, and a reader must never see a line a failed flush may undo.
      try writing { () throws(StoreError) -> Result<DirectoryState, any Error> in
        let plan: CommitPlan
        do {
          plan = try decide(state, idempotencyKey.flatMap { state.idempotentAnswer(user: user, key: $0) })
        } catch {
          return .failure(error)  // a refusal (404, 412, validation): nothing written
        }
        guard !plan.changes.isEmpty else { return .success(state) }
        let first = state.generation + 1
        let last = state.generation + UInt64(plan.changes.count)
        try append(
          JournalRecord(
            sequence: last, firstSequence: first, timestamp: Clock.timestamp(), user: user,
            operation: plan.changes.count == 1 ? .change(plan.changes[0]) : .changes(plan.changes),
            idempotentAnswer: plan.idempotentAnswer))
        // No compaction here, even when due: `performMaintenance()` does it after the response.
        return .success(state)
      }
    }
    return try outcome.get()
  }

  public var hasUnsettledWrites: Bool { !unsettled.isEmpty }

  /// - Throws: `ContactStoreUnavailable` when the changes could not be made durable (none is
  ///   acknowledged; the next call reloads).
  public func settleWrites() throws {
    try available(writing: true) { () throws(StoreError) in try settleUnsettled() }
  }

  /// The stripe of the idempotency lock file that `key` of `user` falls in, locked; `nil` when
  /// another request holds it.
  private func lockKey(user: String, key: String) throws(StoreError) -> ByteRangeLock? {
    // FNV-1a over user and key: stable across processes (Hasher is seeded per process).
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in user.utf8 + [0] + key.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    do {
      return try ByteRangeLock.tryLock(path: layout.path(StoreLayout.idempotencyLockName), byte: Int(hash % 65_536))
    } catch {
      throw .system(error)
    }
  }

  /// Runs a read or write of the files; on failure drops the cached state, so that the next
  /// call starts from the files again (the fault may be gone by then: a disk that had filled,
  /// a file restored), and reports the store as unavailable (503) rather than as a bug (500).
  func available<Result>(writing: Bool, _ body: () throws(StoreError) -> Result)
    throws(ContactStoreUnavailable) -> Result
  {
    do {
      return try body()
    } catch {
      needsReload = true
      throw ContactStoreUnavailable(reason: "\(error)", duringWrite: writing)
    }
  }

  // MARK: Reading

  /// Brings the in-memory state up to date with the directory (one `stat` when nothing changed).
  ///
  /// - Parameter writing: under the write lock, to decide on a write: every complete line is
  ///   read, flushed or not (`refreshForWriting`). Otherwise only those below the durable
  ///   watermark (`readLimit`).
  private func refresh(writing: Bool = false) throws(StoreError) {
    if needsReload {
      try reload(writing: writing)
      return
    }
    let layout = layout
    guard
      let current = try StoreError.wrapping({ () throws(SystemError) in try FileSystem.identity(of: layout.journal) })
    else {
      throw .damaged(file: StoreLayout.journalName, line: nil, reason: "the journal is missing")
    }
    if current.isSameFile(as: journal.identity) {
      if current.size > journal.offset {
        var limit = try readLimit(writing: writing)
        if let durable = limit, durable < current.size, current.size != lingeringCheckedSize,
          Clock.unixSeconds() - current.modificationSeconds >= 2
        {
          // Not written for a second or more, yet past the watermark: see `flushLingeringLines`.
          // Once per size, so that a torn tail (never complete) costs one look, not one a request.
          lingeringCheckedSize = current.size
          try locked { () throws(StoreError) in try flushLingeringLines() }
          limit = try readLimit(writing: false)
        }
        try applyJournalTail(upTo: limit)
      }
      // Smaller than what was applied: a writer cut off records whose fdatasync failed after
      // this worker had read them under the lock (readers never read past the watermark, and
      // nothing is cut below it). They were never acknowledged; forget them.
      if current.size < journal.offset { try reload(writing: writing) }
      return
    }
    // A compaction replaced the journal: finish the old one, then go on in the new one if it
    // starts at or before where this worker is (it begins with byte copies of the old one's last
    // records, which `readTail` skips); otherwise load everything again. An old journal cut back
    // below what was read (a record whose fdatasync failed) means a record that never counted.
    // The old one is read to its end, flushed or not: the compaction that replaced it copied
    // every complete line into the new one and synced it before the rename.
    if try journal.currentSize() < journal.offset {
      try reload(writing: writing)
      return
    }
    try applyJournalTail(upTo: nil)
    let next = try openJournal()
    if let base = try next.readHeader(), base <= state.generation {
      journal = next
      try applyJournalTail(upTo: readLimit(writing: writing))
    } else {
      try reload(writing: writing)
    }
  }

  /// `refresh()` of every complete line, flushed or not, then drops a torn last line (under the
  /// lock nobody else is writing it). Makes the watermark first when it is missing or stale.
  func refreshForWriting() throws(StoreError) {
    try ensureWatermark()
    try refresh(writing: true)
    let dropped = try journal.cutTornTail()
    if dropped > 0 {
      log("journal: dropping \(dropped) bytes of an incomplete last line left by a killed writer")
    }
  }

  /// Loads snapshot, directory files and journal from scratch.
  ///
  /// - Parameter writing: under the write lock: every complete line of the journal, flushed or
  ///   not; otherwise up to the durable watermark (see `refresh`).
  func reload(writing: Bool = false) throws(StoreError) {
    var attempts = 0
    while true {
      do {
        // The journal is opened before the snapshot is read: if a compaction lands in between,
        // the old journal still holds every record up to the new snapshot (see README.md).
        let opened = try openJournal()
        // The journal is read now and scanned on a thread of its own while the snapshot is parsed.
        let limit = try readLimit(writing: writing, journal: opened)
        let prescan = try opened.prescan(upTo: limit)
        let snapshot = try Snapshot.read(layout)
        var contacts = snapshot.custom
        for (type, file) in snapshot.directoryFiles {
          contacts += try DirectoryFile.read(
            layout.path(file), type: type, version: DirectoryFile.generation(ofFile: file))
        }
        let loading = DirectoryState.LoadingContacts(contacts)
        let capacity = changeHistory
        directoryFiles = snapshot.directoryFiles
        journal = opened
        needsReload = false
        try load(
          loading, answers: snapshot.answers, generation: snapshot.generation, upTo: limit, prescanned: prescan
        ) {
          (current, appending) throws(StoreError) in
          let (horizon, stored) = snapshot.changes ?? (snapshot.generation, [])
          return try ChangeLog(
            capacity: capacity, horizon: horizon, restoring: stored, sequence: \.sequence,
            entry: { (change) throws(StoreError) in try change.entry(current: current) }, followedBy: appending)
        }
        return
      } catch StoreError.system(let error) where error.code == SystemError.noSuchFile && attempts < 3 {
        attempts += 1  // a concurrent compaction removed a file just read about: start again
      }
    }
  }

  /// Opens the journal at its path for this worker (its log, the test seam) and notes the size
  /// of the snapshot beside it.
  func openJournal() throws(StoreError) -> Journal {
    let opened = try Journal.open(layout.journal, log: log)
    opened.faultInjection = faultInjection
    let layout = layout
    snapshotSize = try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.identity(of: layout.snapshot)?.size ?? 0
    }
    return opened
  }

  /// Applies the journal's new complete lines, up to `limit` (the durable watermark for a
  /// reader, `nil` for a writer under the lock).
  ///
  /// Changes are gathered and applied to the state in one pass (a linear merge), so a worker
  /// loading a long journal does not pay a sorted insertion per record. An import in the
  /// middle applies what was gathered before it, keeping the order of the records.
  private func applyJournalTail(upTo limit: Int64?) throws(StoreError) {
    try apply(try journal.readTail(after: state.generation, upTo: limit))
  }

  /// Applies journal records just read (see `applyJournalTail`).
  func apply(_ entries: some Collection<Journal.Entry>) throws(StoreError) {
    var pending = PendingChanges()
    do {
      for entry in entries {
        if case .directoryImport = entry.record.operation {
          pending.apply(to: &state)
          try apply(entry.record, importing: nil)
        } else {
          for (change, sequence) in entry.record.contactChanges { pending.add(change, sequence: sequence) }
          if let answer = entry.record.idempotentAnswer { state.remember(answer) }
        }
      }
    } catch {
      needsReload = true  // accepted by the journal, only partly applied: start again next time
      throw error
    }
    pending.apply(to: &state)
  }

  private func apply(_ record: JournalRecord, importing contacts: [Contact]?) throws(StoreError) {
    if let answer = record.idempotentAnswer { state.remember(answer) }
    switch record.operation {
    case .change, .changes:
      // A bulk record's thousand changes in one merge, not a sorted insertion each.
      var pending = PendingChanges()
      for (change, sequence) in record.contactChanges { pending.add(change, sequence: sequence) }
      pending.apply(to: &state)
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
      state.replaceAll(ofType: type, with: imported, generation: record.sequence, firstSequence: record.firstSequence)
      directoryFiles[type] = file
    }
  }

  // MARK: Writing (under the lock)

  /// Appends `record` (not yet flushed: `writing` does that after the lock is let go), notes its
  /// end in the watermark's `appended`, then applies it.
  ///
  /// On failure the worker reloads before its next request.
  func append(_ record: JournalRecord, importing contacts: [Contact]? = nil) throws(StoreError) {
    do {
      try journal.write(record)
    } catch {
      needsReload = true
      throw error
    }
    noteAppended()
    try apply(record, importing: contacts)
  }

  /// `initialize` under the write lock, removing temporary files only when no compaction runs
  /// (it writes its snapshot's without the write lock).
  private static func initialize(
    _ layout: StoreLayout, lock: borrowing FileLock, compactionLock: borrowing FileLock
  ) throws(StoreError) {
    let ran: Void?
    do {
      ran = try compactionLock.withExclusiveLockIfFree { () throws(StoreError) in
        try locked(lock) { () throws(StoreError) in try initialize(layout, removingTemporaryFiles: true) }
      }
    } catch let error as StoreError {
      throw error
    } catch {
      throw .damaged(file: StoreLayout.compactionLockName, line: nil, reason: "\(error)")
    }
    if ran == nil {
      try locked(lock) { () throws(StoreError) in try initialize(layout, removingTemporaryFiles: false) }
    }
  }

  /// Creates snapshot and journal in a new directory; removes temporary files of killed writers
  /// when asked (only while holding both locks).
  private static func initialize(_ layout: StoreLayout, removingTemporaryFiles: Bool) throws(StoreError) {
    let journalExists = try StoreError.wrapping { () throws(SystemError) in
      for name in try FileSystem.entries(of: layout.directory) where removingTemporaryFiles && name.contains(".tmp-") {
        try FileSystem.removeIfPresent(layout.path(name))
      }
      return try FileSystem.identity(of: layout.journal) != nil
    }
    guard !journalExists else { return }
    try StoreError.wrapping { () throws(SystemError) in
      if try FileSystem.identity(of: layout.snapshot) == nil {
        try FileSystem.replaceAtomically(layout.snapshot, with: Snapshot.encode(DirectoryState(), directoryFiles: [:]))
      }
    }
    try Journal.create(layout.journal, base: try Snapshot.read(layout).generation)
  }

  /// Runs `body` holding the directory's exclusive lock.
  func locked<Result>(_ body: () throws(StoreError) -> Result) throws(StoreError) -> Result {
    try Self.locked(lock, body)
  }

  private static func locked<Result>(_ lock: borrowing FileLock, _ body: () throws(StoreError) -> Result)
    throws(StoreError) -> Result
  {
    do {
      return try lock.withExclusiveLock(body)
    } catch let error as StoreError {
      throw error
    } catch let error as SystemError {
      throw .system(error)
    } catch {
      throw .damaged(file: StoreLayout.lockName, line: nil, reason: "\(error)")
    }
  }
}
