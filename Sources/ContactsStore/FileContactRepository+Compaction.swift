import ContactsCore
import Platform

/// The steps of a compaction, in order, for the test seam `compactionStepHook`: the hook is
/// called once each step is done (a test stops or kills the process there).
public enum CompactionStep: String, CaseIterable, Sendable {
  /// Caught up under the write lock (briefly) and chosen the generation G to fold; nothing written.
  case caughtUp
  /// The changes up to G appended to `history.jsonl` and synced; no write lock held.
  case historyWritten
  /// The snapshot at G renamed into place and synced; the old journal still in use, no write lock.
  case snapshotWritten
  /// Under the write lock: the new journal (header G, the records after G) renamed into place.
  case journalReplaced
}

extension FileContactRepository {
  /// Whether this worker's view of the journal has outgrown the snapshot (see `Compaction.isDue`):
  /// no I/O.
  var compactionIsDue: Bool {
    Compaction.isDue(journalBytes: journal.offset, snapshotBytes: snapshotSize, threshold: compactionThresholdBytes)
  }

  /// Compacts when the journal has grown past the threshold and no other process is compacting;
  /// called by the worker after a response is finished, never inside `commit`. The writes are
  /// durable in the journal already, so a failure here is logged (and tried again later), not
  /// reported.
  public func performMaintenance() {
    // Not while answers wait for a flush: the worker settles them first.
    guard unsettled.isEmpty, compactionIsDue else { return }
    do {
      _ = try compactionLock.withExclusiveLockIfFree { () throws in try compactHoldingCompactionLock(onlyIfDue: true) }
    } catch {
      needsReload = true
      log("compaction failed (the data is safe in the journal; it will be tried again): \(error)")
    }
  }

  /// Folds the journal into a new snapshot and goes on in a new journal that starts from it, now
  /// (after any compaction another process is running): for admin commands, tests and benchmarks.
  ///
  /// - Throws: `StoreError`.
  public func compact() throws {
    do {
      try compactionLock.withExclusiveLock { () throws in try compactHoldingCompactionLock(onlyIfDue: false) }
    } catch {
      needsReload = true
      throw error
    }
  }

  /// The compaction itself (see `Compaction` for why each step is safe). Holds the compaction
  /// lock; takes the write lock twice, each time only for a refresh and a few small writes.
  private func compactHoldingCompactionLock(onlyIfDue: Bool) throws(StoreError) {
    let started = Clock.monotonicNanoseconds()
    var lockedNanoseconds: UInt64 = 0
    /// `locked`, timed.
    func whileLocked<Result>(_ body: () throws(StoreError) -> Result) throws(StoreError) -> Result {
      let start = Clock.monotonicNanoseconds()
      defer { lockedNanoseconds += Clock.monotonicNanoseconds() - start }
      return try locked(body)
    }
    // 1. Under the write lock: catch up, cut a torn tail, and make every record so far durable
    //    (writers flush after letting go of the lock, and a writer killed between its write and
    //    its fdatasync leaves a complete line in the page cache: the history must not take a
    //    record that a power loss could still undo). Before the "still due?" check too: this
    //    worker serves the lines it has just read.
    let folded = try whileLocked { () throws(StoreError) -> Compaction.Fold? in
      try refreshForWriting()
      try makeDurableUnderLock()
      if onlyIfDue && !compactionIsDue { return nil }  // another process compacted meanwhile
      // Kept answers older than their retention are not carried into the new snapshot.
      state.forgetAnswers(before: Clock.unixSeconds() - IdempotentAnswer.retentionSeconds)
      return Compaction.Fold(
        generation: state.generation, directoryFiles: directoryFiles, journal: journal, journalOffset: journal.offset)
    }
    guard let folded else { return }
    // A copy of the state at G (shares its storage until step 4 changes `state`; dropped before).
    var foldedState: DirectoryState? = state
    compactionStepHook?(.caughtUp)

    // 2. No write lock from here to step 4: writers go on appending to the old journal.
    try AuditHistory.append(folded.journal.records(upTo: folded.journalOffset), to: layout)
    compactionStepHook?(.historyWritten)

    // 3. The snapshot at G. The old journal still holds every record after G, and a load skips
    //    its records up to the snapshot's generation.
    let snapshot = Snapshot.encode(foldedState.take() ?? DirectoryState(), directoryFiles: folded.directoryFiles)
    let layout = layout
    try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.replaceAtomically(layout.snapshot, with: snapshot)
    }
    compactionStepHook?(.snapshotWritten)

    // 4. Under the write lock again: the records appended since step 1 go into the new journal.
    try whileLocked { () throws(StoreError) in
      try refreshForWriting()
      guard journal.identity.isSameFile(as: folded.journal.identity), journal.offset >= folded.journalOffset else {
        // Only holders of the compaction lock replace the journal, and this process holds it; the
        // records up to G were synced in step 1, so nothing cuts the journal back below them.
        throw StoreError.damaged(file: StoreLayout.journalName, line: nil, reason: "replaced during a compaction")
      }
      let since = try journal.acceptedBytes(from: folded.journalOffset)
      let generation = folded.generation
      // The records since step 1 may not have been flushed by their writers yet: the new journal
      // is synced before its rename, so they are durable in it, and the watermark says so at once
      // (their writers, finding another journal named, acknowledge them).
      let replaced = try StoreError.wrapping { () throws(SystemError) -> FileIdentity? in
        try FileSystem.replaceAtomically(layout.journal, with: JournalRecord.header(base: generation) + since)
        return try FileSystem.identity(of: layout.journal)
      }
      if let replaced, let record = watermark.current() {
        watermark.write(
          DurableWatermark.Record(
            journal: replaced, durable: replaced.size, appended: replaced.size, epoch: record.epoch))
      }
      compactionStepHook?(.journalReplaced)
      let next = try openJournal()
      guard try next.readHeader() == generation else {
        throw StoreError.damaged(file: StoreLayout.journalName, line: 1, reason: "replaced during a compaction")
      }
      _ = try next.readTail(after: state.generation)  // the records copied: already applied
      guard next.offset == Int64(JournalRecord.header(base: generation).count + since.count) else {
        throw StoreError.damaged(file: StoreLayout.journalName, line: nil, reason: "changed during a compaction")
      }
      journal = next
      // The snapshot names some directory files, the records carried over may name newer ones.
      var referenced = Set(folded.directoryFiles.values).union(directoryFiles.values)
      for entry in Journal.Scan(since, at: folded.journalOffset, firstLine: 2, after: generation).entries {
        if case .directoryImport(_, let file, _) = entry.record.operation { referenced.insert(file) }
      }
      Compaction.removeUnreferencedFiles(in: layout, keeping: referenced)
    }
    lastCompaction = (Clock.monotonicNanoseconds() - started, lockedNanoseconds)
  }
}

/// Compaction: a new snapshot at some generation G, then a new journal that starts from it and
/// holds the records written after G. Off the write path: no request waits for it, and writers
/// wait for it only while it copies the records written during it (step 4).
///
/// One process at a time holds the compaction lock (`compaction.lock`, `flock(2)`); a worker that
/// finds it held skips. Only its holders replace the snapshot or the journal (compaction, a dump
/// load), so between steps 1 and 4 the journal stays the same file and only grows.
///
/// Crash-safe at every step (tests kill a compaction at each `CompactionStep`):
///
/// - During or after step 2 (history): `history.jsonl` holds changes up to at most G, every one
///   already durable in the journal (step 1 synced it); the journal and snapshot are unchanged.
///   The next compaction appends only changes after the file's last complete line, cutting a
///   torn one first (`AuditHistory.append`): nothing twice, nothing missing.
/// - During step 3: a temporary file beside the snapshot (removed later); nothing changed.
/// - After step 3: the snapshot is at G, the journal the old one (base below G) with every record
///   up to its end. A load opens the journal, then reads the snapshot, and skips the journal's
///   records up to G: the same state. Writers went on appending to that journal meanwhile.
/// - During step 4: under the write lock, so no writer appends; a crash before the rename leaves
///   the state of "after step 3"; after it, the new journal holds header G and, byte for byte, the
///   old journal's records after G: the same state again.
///
/// Readers are never blocked. One that had the old journal open finishes it, then continues in
/// the new one, skipping the records it copied (`refresh()`); one that loads from scratch meanwhile
/// sees one of the consistent pairs above.
enum Compaction {
  /// What step 1 chose to fold: generation G, and the journal as far as G.
  struct Fold {
    var generation: UInt64
    var directoryFiles: [ContactType: String]
    /// The journal that holds G, and where G's record ends in it.
    var journal: Journal
    var journalOffset: Int64
  }

  /// Whether a journal of `journalBytes` should be compacted: larger than `threshold`, and than
  /// a quarter of the snapshot. The quarter keeps compaction amortized O(1) per write, and the
  /// journal a new worker must replay short.
  static func isDue(journalBytes: Int64, snapshotBytes: Int64, threshold: Int64) -> Bool {
    journalBytes > max(threshold, snapshotBytes / 4)
  }

  /// Removes directory files not in `referenced`, and temporary files of killed writers. Only
  /// under both locks: no import or compaction of another process is writing one.
  static func removeUnreferencedFiles(in layout: StoreLayout, keeping referenced: Set<String>) {
    guard let names = try? FileSystem.entries(of: layout.directory) else { return }
    for name in names where StoreLayout.isDirectoryFile(name) && !referenced.contains(name) || name.contains(".tmp-") {
      try? FileSystem.removeIfPresent(layout.path(name))
    }
  }
}
