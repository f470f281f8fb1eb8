public import ContactsCore

extension FileContactRepository {
  /// The history file's entries for `id`, then the journal's: read on request (an admin's), never
  /// kept in memory.
  public func history(of id: String) throws -> [HistoryEntry]? {
    let state = try currentState()
    let entries = try available(writing: false) { () throws(StoreError) in
      let reader = try Journal.open(layout.journal, writable: false)
      let base = try reader.readHeader() ?? 0
      return try AuditHistory.entries(of: id, in: layout, journal: reader.readTail(after: base))
    }
    if !entries.isEmpty { return entries }
    return state.contains(id: id) ? [] : nil
  }
}
