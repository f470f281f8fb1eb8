public import ContactsCore
import Platform

/// Follows a data directory's generation as cheaply as it can be known: one `stat(2)` of the
/// journal per call while nothing changed; when it grew, only its new lines are read; after a
/// compaction replaced it, the new (short) journal from its start. Never the snapshot, never
/// the directory files: the events publisher keeps no copy of the contacts. Only lines below the
/// durable watermark count, as for every reader: no cursor is announced for a change that a
/// failed flush may yet undo, or that the workers do not serve yet.
public final class GenerationWatcher: GenerationWatching {
  let layout: StoreLayout
  private var journal: Journal?
  private var generation: UInt64 = 0
  /// Opened on first use (`init` does not throw).
  private var watermark: DurableWatermark?

  /// - Parameter directory: the data directory (it must exist: the service created it).
  public init(directory: String) {
    layout = StoreLayout(directory: FileSystem.absolute(directory))
  }

  public func currentGeneration() throws -> UInt64 {
    let current = try StoreError.wrapping { () throws(SystemError) in try FileSystem.identity(of: layout.journal) }
    guard let current else { throw StoreError.damaged(file: StoreLayout.journalName, line: nil, reason: "missing") }
    if let journal, current.isSameFile(as: journal.identity) {
      if current.size > journal.offset { try follow(journal) }
      return generation
    }
    // First call, or a compaction put a new journal in place: start over in it.
    let opened = try Journal.open(layout.journal, writable: false)
    guard let base = try opened.readHeader() else { return generation }
    generation = max(generation, base)
    journal = opened
    try follow(opened)
    return generation
  }

  /// Reads `journal`'s new complete lines up to the watermark (none while it does not describe
  /// this journal: the workers make it, and the next call reads on).
  private func follow(_ journal: Journal) throws {
    let watermark = try watermark ?? DurableWatermark(layout)
    self.watermark = watermark
    let limit = watermark.durable(for: journal.identity) ?? journal.offset
    let after = journal.base.map { max($0, generation) } ?? generation
    for entry in try journal.readTail(after: after, upTo: limit) {
      generation = max(generation, entry.record.sequence)
    }
  }
}
