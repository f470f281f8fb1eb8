import ContactsCore
import Platform

extension FileContactRepository {
  /// Rewrites snapshot and journal when the journal has grown past the threshold. The write
  /// that triggered it is already durable, so a failure here is logged, not reported.
  func compactIfLarge() {
    guard
      Compaction.isDue(journalBytes: journal.offset, snapshotBytes: snapshotSize, threshold: compactionThresholdBytes)
    else { return }
    do {
      try compact()
    } catch {
      log("compaction failed (the data is safe in the journal; it will be tried again): \(error)")
    }
  }

  /// Folds the journal into a new snapshot of the current state and goes on in a new journal
  /// that starts from it (see `Compaction`). Writers call it under the lock.
  ///
  /// - Throws: `StoreError`.
  public func compact() throws {
    // The journal's changes to custom contacts go to the history first: the new journal will
    // not hold them, and the audit history lasts as long as the data.
    let reader = try Journal.open(layout.journal, writable: false)
    let base = try reader.readHeader() ?? 0
    try AuditHistory.append(reader.readTail(after: base), to: layout)
    // Kept answers older than their retention are not carried into the new snapshot.
    state.forgetAnswers(before: Clock.unixSeconds() - IdempotentAnswer.retentionSeconds)
    let snapshotBytes = try Compaction.run(layout, state: state, directoryFiles: directoryFiles)
    let next = try openJournal()
    guard try next.readHeader() == state.generation else {
      throw StoreError.damaged(file: StoreLayout.journalName, line: 1, reason: "replaced during a compaction")
    }
    journal = next
    snapshotSize = snapshotBytes
    Compaction.removeUnreferencedFiles(in: layout, keeping: Set(directoryFiles.values))
  }
}

/// Compaction: a new snapshot of the state, then a new journal that starts from it.
///
/// Crash-safe at every step: the snapshot is replaced by rename, and until the new journal
/// replaces the old one (also by rename) the old journal's records up to the snapshot's
/// generation are skipped on load. Readers are never blocked: they finish the old journal they
/// have open, then continue in the new one.
///
/// A step of its own, apart from the repository, so that what it carries over can grow (for
/// example the journal's records kept as history) without touching reads and writes.
enum Compaction {
  /// Whether a journal of `journalBytes` should be compacted: larger than `threshold`, and than
  /// a quarter of the snapshot. The quarter keeps compaction amortized O(1) per write, and the
  /// journal a new worker must replay short.
  static func isDue(journalBytes: Int64, snapshotBytes: Int64, threshold: Int64) -> Bool {
    journalBytes > max(threshold, snapshotBytes / 4)
  }

  /// Writes the snapshot of `state`, then a journal holding only a header at its generation.
  ///
  /// - Returns: the snapshot's size in bytes.
  static func run(_ layout: StoreLayout, state: DirectoryState, directoryFiles: [ContactType: String])
    throws(StoreError) -> Int64
  {
    let bytes = Snapshot.encode(state, directoryFiles: directoryFiles)
    try StoreError.wrapping { () throws(SystemError) in try FileSystem.replaceAtomically(layout.snapshot, with: bytes) }
    try Journal.create(layout.journal, base: state.generation)
    return Int64(bytes.count)
  }

  /// Removes directory files not in `referenced`, and temporary files of killed writers.
  static func removeUnreferencedFiles(in layout: StoreLayout, keeping referenced: Set<String>) {
    guard let names = try? FileSystem.entries(of: layout.directory) else { return }
    for name in names where StoreLayout.isDirectoryFile(name) && !referenced.contains(name) || name.contains(".tmp-") {
      try? FileSystem.removeIfPresent(layout.path(name))
    }
  }
}
