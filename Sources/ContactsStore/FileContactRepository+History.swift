public import ContactsCore

extension FileContactRepository {
  /// The history file's entries for `id`, then the journal's: read on request (an admin's), never
  /// kept in memory.
  public func history(of id: String) throws -> [HistoryEntry]? {
    let state = try currentState()
    let entries = try available(writing: false) { () throws(StoreError) in
      let reader = try Journal.open(layout.journal, writable: false)
      let base = try reader.readHeader() ?? 0
      // Only what is on disk: a change whose flush then fails is never shown.
      let entries = try reader.readTail(after: base, upTo: durableLength(of: reader.identity))
      return try AuditHistory.entries(of: id, in: layout, journal: entries)
    }
    if !entries.isEmpty { return entries }
    return state.contains(id: id) ? [] : nil
  }
}
