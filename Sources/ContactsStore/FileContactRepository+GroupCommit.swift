import Platform

/// Group commit: a writer appends under the write lock and `fdatasync`s after letting go of it,
/// so one flush covers the lines of every writer that appended before it began, and a writer
/// whose line a completed flush already covers does not flush at all. The shared
/// `DurableWatermark` says how far the journal is known flushed; the argument for why nothing
/// acknowledged can be lost is in docs/decisions.md ("Group commit").
///
/// The rules, in the order a write meets them:
///
/// 1. Under the lock (`writing`): make the watermark if it is missing or stale
///    (`ensureWatermark`), read every complete line, flushed or not, decide, append, note the
///    line's end in `appended`; note the end of what was read (`end`) and the failure epoch.
/// 2. After letting go (`awaitDurability`): if the watermark is at or past `end` in the same
///    epoch, done. Else
///    note `appended` (every line up to it was written before this moment), `fdatasync`.
/// 3. Under the lock again, briefly: if the epoch moved, another writer's flush failed and cut
///    the journal back to the watermark: 503, reload. If the journal was replaced, the compaction
///    that replaced it copied every complete line into the new one and synced it: done. If the
///    watermark reached `end` meanwhile (another flush covered it): done. If the flush
///    succeeded: raise the watermark to the noted `appended`. If it failed: raise the epoch, cut
///    the journal back to the watermark and sync it, 503, reload.
///
/// Readers (`refresh()` outside the lock) apply complete lines only up to the watermark, so
/// nothing a failed flush undoes is ever served.
extension FileContactRepository {
  /// Where a writer stands when it lets go of the lock: what it must see made durable.
  struct PendingDurability {
    /// The journal it read and appended to.
    let journal: Journal
    /// The end of every line it read or wrote (its state holds nothing past it).
    let end: Int64
    /// The failure epoch it appended (or decided) under.
    let epoch: UInt64
  }

  /// Runs `body` under the write lock after `refreshForWriting()`, then, with the lock let go,
  /// waits until everything it read or appended is durable (`awaitDurability`): how every write
  /// path (commit, import) runs, refusals included, since the worker serves its state next.
  /// With `defersDurability` it does not wait but notes what to wait for (`settleWrites()`).
  ///
  /// - Throws: what `body` throws; `StoreError` when the lines could not be made durable (then
  ///   nothing is acknowledged and the worker reloads).
  func writing<Result>(_ body: () throws(StoreError) -> Result) throws(StoreError) -> Result {
    let (result, pending) = try locked { () throws(StoreError) -> (Result, PendingDurability) in
      try refreshForWriting()
      let result = try body()
      return (result, try pendingDurability())
    }
    if defersDurability {
      unsettled.append(pending)
    } else {
      try awaitDurability(pending)
    }
    return result
  }

  /// `awaitDurability` for every write since the last call, in order, stopping at the first
  /// that fails. The first flush covers the others' lines (they were appended before it began),
  /// so they find the watermark past them.
  func settleUnsettled() throws(StoreError) {
    let pending = unsettled
    unsettled.removeAll()
    for write in pending { try awaitDurability(write) }
  }

  /// The journal, what this worker has read of it, and the epoch, under the lock (after
  /// `refreshForWriting`, which made the watermark for this journal).
  func pendingDurability() throws(StoreError) -> PendingDurability {
    guard let record = watermark.current() else {
      throw .damaged(file: StoreLayout.watermarkName, line: nil, reason: "no watermark after making one")
    }
    return PendingDurability(journal: journal, end: journal.offset, epoch: record.epoch)
  }

  /// Steps 2 and 3 of the rules above, outside the lock: returns once `pending.end` is durable.
  ///
  /// - Throws: `StoreError` when this flush failed (the journal is cut back to the watermark) or
  ///   another writer's did (the epoch moved); the worker reloads before its next request.
  func awaitDurability(_ pending: PendingDurability) throws(StoreError) {
    groupCommitHook?()
    // Covered already, in the epoch it was appended in: a failure since (a raised epoch) may
    // have cut the line, and later lines flushed past its offset are not it.
    if let record = watermark.read(), record.names(pending.journal.identity), record.epoch == pending.epoch,
      record.durable >= pending.end
    {
      return
    }
    // Every line up to `appended` was written before this load: the flush below covers them.
    let target = max(
      pending.end, watermark.read().flatMap { $0.names(pending.journal.identity) ? $0.appended : nil } ?? 0)
    var failure: SystemError?
    do {
      try pending.journal.flush()
    } catch {
      failure = error
    }
    // Published under the lock: a failure (which takes the lock to raise the epoch and cut the
    // journal) is either before this, and seen, or after it, and then cuts nothing below it.
    try locked { () throws(StoreError) in
      try watermark.reopenIfReplaced()
      guard let record = watermark.current(), record.epoch == pending.epoch else {
        needsReload = true
        if let failure { throw .system(failure) }
        throw .notDurable("a flush of the journal failed and the lines past the last flushed one were discarded")
      }
      // Replaced by a compaction after this line was appended: it copied every complete line
      // into the new journal and synced that before the rename; the old file no longer counts.
      guard record.names(pending.journal.identity) else { return }
      if record.durable >= pending.end { return }  // another writer's flush covered it meanwhile
      guard let failure else {
        // `target` may pass `appended`: a line of a writer killed before it noted its end,
        // read (and so flushed) here all the same.
        var raised = record
        raised.durable = max(record.durable, target)
        raised.appended = max(record.appended, raised.durable)
        watermark.write(raised)
        return
      }
      poison(record, journal: pending.journal, because: failure)
      throw .system(failure)
    }
  }

  /// Under the lock, for a holder that must not let go before the lines it read are durable
  /// (compaction's first step, `exportDump`): flushes, if anything past the watermark was read,
  /// and raises the watermark.
  func makeDurableUnderLock() throws(StoreError) {
    guard let record = watermark.current(), record.names(journal.identity) else {
      throw .damaged(file: StoreLayout.watermarkName, line: nil, reason: "no watermark for the current journal")
    }
    if record.durable >= journal.offset { return }
    do {
      try journal.sync()
    } catch {
      if case .system(let failure) = error { poison(record, journal: journal, because: failure) }
      needsReload = true
      throw error
    }
    var raised = record
    raised.durable = journal.offset
    raised.appended = max(record.appended, journal.offset)
    watermark.write(raised)
  }

  /// A flush failed: nothing past the watermark may be acknowledged any more. Raises the epoch
  /// (every writer that appended or decided past the watermark answers 503 when it comes to
  /// publish), cuts the journal back to the watermark and syncs it (readers never read past
  /// it; writers that had see the journal shrink and reload). Under the lock.
  func poison(_ record: DurableWatermark.Record, journal failed: Journal, because failure: SystemError) {
    var next = record
    next.epoch &+= 1
    next.appended = record.durable
    watermark.write(next)
    needsReload = true
    log(
      "journal: a flush failed (\(failure)); cutting the journal back to its last flushed line, at \(record.durable) bytes; writes since are not acknowledged"
    )
    do {
      try failed.cutBack(to: record.durable)
    } catch {
      // The lines stay past the watermark: readers do not read them, but the next writer's
      // flush may make them durable: a change answered with 503 may then be there after all.
      log("journal: could not cut the journal back to \(record.durable) bytes: \(error)")
    }
  }

  /// Notes the end of the line just appended in the watermark's `appended`. Under the lock.
  func noteAppended() {
    guard var record = watermark.current(), record.names(journal.identity) else { return }
    record.appended = max(record.appended, journal.offset)
    watermark.write(record)
  }

  /// Makes the watermark again, under the lock, when it does not describe the journal at the
  /// path: a new data directory, a new boot (the file is never synced, and after a crash it may
  /// hold anything it ever held, about files whose inode numbers are since reused), a missing or
  /// damaged file, a writer killed while changing it. Syncs the journal first: then every
  /// complete line in it is on disk, and the watermark is the end of the last one.
  func ensureWatermark() throws(StoreError) {
    try watermark.reopenIfReplaced()
    let layout = layout
    guard
      let current = try StoreError.wrapping({ () throws(SystemError) in try FileSystem.identity(of: layout.journal) })
    else {
      throw .damaged(file: StoreLayout.journalName, line: nil, reason: "the journal is missing")
    }
    if let record = watermark.current(), record.names(current) { return }
    let file = try Journal.open(layout.journal, writable: false)
    try file.sync()
    let (identity, end) = (file.identity, try file.completeLength(from: 0))
    // A new file starts from an epoch no writer can hold: one that mapped a removed file
    // compares its epoch with this one when it publishes.
    let epoch = watermark.wasNew ? Clock.monotonicNanoseconds() : watermark.rawEpoch &+ 1
    watermark.write(DurableWatermark.Record(journal: identity, durable: end, appended: end, epoch: epoch))
    log("journal: watermark made at \(end) bytes (journal synced)")
  }

  /// How far a refresh may read the journal: to its end under the write lock (`writing`), else
  /// up to the durable watermark. Without a watermark for this journal (a compaction's rename
  /// not yet published, a new boot, a removed file) it takes the lock to make one; if this
  /// worker's journal is still not the one described, nothing new is read (the next refresh
  /// moves on to the current journal).
  func readLimit(writing: Bool, journal: Journal? = nil) throws(StoreError) -> Int64? {
    if writing { return nil }
    let journal = journal ?? self.journal
    if let durable = watermark.durable(for: journal.identity) { return durable }
    try locked { () throws(StoreError) in try ensureWatermark() }
    return watermark.durable(for: journal.identity) ?? journal.offset
  }

  /// Flushes complete lines that have lingered past the watermark, under the lock: a reader's
  /// remedy when the journal has not been written for a second or more and still holds lines no
  /// flush covered. Their writer is gone (killed between its write and its flush) or does not
  /// know the watermark (a worker of a version before group commit, during a rolling reload,
  /// which flushed them itself under the lock): either way no one else will raise the watermark
  /// past them until the next write. Like `makeDurableUnderLock`, for the journal at the path.
  func flushLingeringLines() throws(StoreError) {
    try ensureWatermark()
    let current = try Journal.open(layout.journal)
    guard let record = watermark.current(), record.names(current.identity) else { return }
    let end = try current.completeLength(from: record.durable)
    guard end > record.durable else { return }
    do {
      try current.sync()
    } catch {
      if case .system(let failure) = error { poison(record, journal: current, because: failure) }
      throw error
    }
    var raised = record
    raised.durable = end
    raised.appended = max(record.appended, end)
    watermark.write(raised)
    log("journal: flushed \(end - record.durable) bytes of complete lines no writer had flushed")
  }

  /// How much of the journal file `identity` holds durably, for a reader that opens the journal
  /// itself (`history(of:)`): the watermark, or what this worker has read of that same file;
  /// nothing past the header otherwise.
  func durableLength(of identity: FileIdentity) -> Int64 {
    if let durable = watermark.durable(for: identity) { return durable }
    return identity.isSameFile(as: journal.identity) ? journal.offset : 0
  }
}
