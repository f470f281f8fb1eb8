import ContactsCore
import Platform

extension FileContactRepository {
  /// Builds the state from a snapshot's contacts (and the directory files'), then applies the
  /// journal's complete lines past `generation`.
  ///
  /// A journal holds up to a quarter of the snapshot. Applying its changes to a built state
  /// (`PendingChanges.apply`) would sort, and index by id, every contact a second time; so
  /// when the records before the first import hold enough changes to be merged anyway, they
  /// are merged into the contacts before the state is built, which gives the same state.
  ///
  /// - Parameters:
  ///   - limit: how far the journal may be read (the durable watermark; `nil`: all of it).
  ///   - prescanned: the journal's `prescan(upTo: limit)`, if one was started.
  ///   - changeLog: the snapshot's change log with the given changes appended, given how to
  ///     find a contact of the state built (its entries share the contacts that have not
  ///     changed since).
  func load(
    _ contacts: [IndexedContact], answers: [IdempotentAnswer], generation: UInt64, upTo limit: Int64?,
    prescanned: Journal.Prescan? = nil,
    changeLog: (_ current: (String) -> IndexedContact?, _ appending: [ChangeEntry]) throws(StoreError) -> ChangeLog
  ) throws(StoreError) {
    let entries = try journal.readTail(after: generation, upTo: limit, prescanned: prescanned)
    let leading = entries.prefix { entry in
      if case .directoryImport = entry.record.operation { false } else { true }
    }
    var pending = PendingChanges()
    for entry in leading {
      for (change, sequence) in entry.record.contactChanges { pending.add(change, sequence: sequence) }
    }
    guard pending.count >= PendingChanges.mergeThreshold else {
      let built = DirectoryState.loaded(contacts, generation: generation)
      state = built
      state.changeLog = try changeLog(built.contact(id:), [])
      for answer in answers { state.remember(answer) }
      try apply(entries)
      return
    }
    let indexedAhead = prescanned?.indexedContacts ?? [:]
    state = try pending.state(
      applyingTo: contacts, generation: generation, indexed: { indexedAhead[$0] }, changeLog: changeLog)
    for answer in answers { state.remember(answer) }
    for entry in leading {
      if let answer = entry.record.idempotentAnswer { state.remember(answer) }
    }
    try apply(entries.dropFirst(leading.count))
  }
}

extension DirectoryState {
  /// How many contacts make it pay to build the id index on a thread of its own (about 1 ms
  /// of work at 5,000 contacts; a thread costs some 0.1 ms).
  static let concurrentLoadCount = 5_000

  /// `DirectoryState(indexed:upserting:removing:generation:)`, with the id index built on a
  /// thread of its own while this one puts the contacts in listing order, when there are
  /// enough of them. The two share nothing but the contacts, which neither changes.
  static func loaded(
    _ indexed: [IndexedContact], upserting upserts: [IndexedContact] = [], removing removed: [String] = [],
    generation: UInt64
  ) -> DirectoryState {
    guard indexed.count + upserts.count >= concurrentLoadCount else {
      return DirectoryState(indexed: indexed, upserting: upserts, removing: removed, generation: generation)
    }
    let index = BackgroundWork { IDIndex(indexed, upserting: upserts, removing: removed) }
    let ordered = listingOrder(indexed, adding: upserts)
    return DirectoryState(ordered: ordered, index: index.join(), generation: generation)
  }
}
