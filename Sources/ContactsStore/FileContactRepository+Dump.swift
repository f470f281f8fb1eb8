public import ContactsCore
import Platform

extension FileContactRepository: DumpTransferring {
  /// The state, and the history (`history.jsonl` and the journal), read under the lock so that
  /// no compaction moves changes between the two meanwhile; writers wait that long.
  ///
  /// - Throws: `ContactStoreUnavailable` when the files cannot be read.
  public func exportDump() throws -> ContactsDump {
    try available(writing: false) { () throws(StoreError) in
      try locked { () throws(StoreError) in
        try refreshForWriting()
        try makeDurableUnderLock()  // a dump holds only what is on disk
        let reader = try Journal.open(layout.journal, writable: false)
        let base = try reader.readHeader() ?? 0
        let history = try AuditHistory.all(
          in: layout, journal: reader.readTail(after: base), upTo: state.generation)
        return ContactsDump(
          generation: state.generation, contacts: state.entries.map(\.contact), history: history)
      }
    }
  }

  /// Writes the dump the way a compaction would, under the lock: the users and queues to
  /// directory files named at the dump's generation (a contact at another version carries its
  /// own), the history to `history.jsonl`, the custom contacts to a new snapshot (with an empty
  /// change log whose horizon is the generation: older change-feed cursors have expired), then
  /// a journal that continues from it. The snapshot is what makes the data current: a load
  /// interrupted before it leaves the store empty, and it can be run again.
  ///
  /// - Throws: `StoreNotEmpty` when the directory has a generation above 0 (nothing changed),
  ///   `ContactStoreUnavailable` when the files cannot be written.
  public func loadDump(_ dump: ContactsDump, dryRun: Bool = false) throws {
    // It replaces snapshot and journal, which only a holder of the compaction lock may do.
    let outcome = try compactionLock.withExclusiveLock { () throws in try loadDumpHoldingCompactionLock(dump, dryRun) }
    try outcome.get()
  }

  private func loadDumpHoldingCompactionLock(_ dump: ContactsDump, _ dryRun: Bool) throws -> Result<Void, StoreNotEmpty>
  {
    try available(writing: true) { () throws(StoreError) -> Result<Void, StoreNotEmpty> in
      try locked { () throws(StoreError) -> Result<Void, StoreNotEmpty> in
        try refreshForWriting()
        guard state.generation == 0, state.count == 0 else {
          return .failure(StoreNotEmpty(generation: state.generation, contacts: state.count))
        }
        if dryRun { return .success(()) }
        try write(dump)
        try ensureWatermark()  // the new journal (synced before its rename)
        try reload(writing: true)
        return .success(())
      }
    }
  }

  private func write(_ dump: ContactsDump) throws(StoreError) {
    let layout = layout
    let loaded = DirectoryState(contacts: dump.contacts, generation: dump.generation)
    var files: [ContactType: String] = [:]
    for type in [ContactType.user, .queue] {
      let contacts = dump.contacts.filter { $0.type == type }
      guard !contacts.isEmpty else { continue }
      let name = StoreLayout.directoryFileName(type, generation: dump.generation)
      files[type] = name
      try StoreError.wrapping { () throws(SystemError) in
        try FileSystem.replaceAtomically(
          layout.path(name), with: DirectoryFile.encode(contacts, type: type, generation: dump.generation))
      }
    }
    var history: [UInt8] = []
    for entry in dump.history {
      history += AuditHistory.line(sequence: entry.sequence, at: entry.at, by: entry.by, change: entry.change)
    }
    try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.replaceAtomically(layout.path(StoreLayout.historyName), with: history)
      try FileSystem.replaceAtomically(layout.snapshot, with: Snapshot.encode(loaded, directoryFiles: files))
    }
    try Journal.create(layout.journal, base: dump.generation)
  }
}
