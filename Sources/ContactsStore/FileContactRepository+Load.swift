import ContactsCore
import Platform

extension FileContactRepository {
  /// Builds the state from a snapshot's contacts (and the directory files'; `loading` started
  /// the work on them alone), then applies the journal's complete lines past `generation`.
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
    _ loading: DirectoryState.LoadingContacts, answers: [IdempotentAnswer], generation: UInt64, upTo limit: Int64?,
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
      let built = DirectoryState.loaded(loading, generation: generation)
      state = built
      state.changeLog = try changeLog(built.contact(id:), [])
      for answer in answers { state.remember(answer) }
      try apply(entries)
      return
    }
    let indexedAhead = prescanned?.indexedContacts ?? [:]
    state = try pending.state(
      applyingTo: loading, generation: generation, indexed: { indexedAhead[$0] }, changeLog: changeLog)
    for answer in answers { state.remember(answer) }
    for entry in leading {
      if let answer = entry.record.idempotentAnswer { state.remember(answer) }
    }
    try apply(entries.dropFirst(leading.count))
  }
}

extension DirectoryState {
  /// How many contacts make it pay to index them by id on a thread of their own (about 1 ms of
  /// work at 5,000 contacts; a thread costs some 0.1 ms).
  static let concurrentLoadCount = 5_000

  /// Contacts a loader has read, with the work on them that no journal change affects started
  /// on a thread of its own when there are `concurrentLoadCount` or more: indexing them by id
  /// (the longest step of building a state), and checking that they are in listing order. A
  /// loader starts it as soon as the snapshot is read, and gathers the journal's last words on
  /// its own thread meanwhile (`PendingChanges.state`), where that thread had waited for the
  /// gathering to end before it started.
  struct LoadingContacts {
    let contacts: [IndexedContact]
    fileprivate let work: BackgroundWork<Prepared>?

    init(_ contacts: [IndexedContact]) {
      self.contacts = contacts
      work =
        contacts.count < DirectoryState.concurrentLoadCount
        ? nil
        : BackgroundWork {
          Prepared(
            index: IDIndex(contacts, reservingFor: contacts.count / 4),
            inOrder: DirectoryState.isInListingOrder(contacts))
        }
    }
  }

  /// The work `LoadingContacts` started. A class, so that the index is changed where it is
  /// (a copy of a dictionary shared with the thread's result would copy every entry); passed
  /// from thread to thread only through `BackgroundWork`, whose `join` orders the accesses.
  fileprivate final class Prepared: @unchecked Sendable {
    var index: IDIndex
    let inOrder: Bool

    init(index: IDIndex, inOrder: Bool) {
      self.index = index
      self.inOrder = inOrder
    }

    /// The index, which this no longer holds (so that the state's is not shared).
    func takeIndex() -> IDIndex {
      var taken = IDIndex([])
      swap(&taken, &index)
      return taken
    }
  }

  /// `DirectoryState(indexed: loading.contacts, upserting:removing:generation:)`, built on two
  /// threads when `loading` started its work on one: `upserts` go into its id index on another
  /// thread while this one sorts and merges them into the listing order. The two share nothing
  /// but the contacts, which neither changes.
  static func loaded(
    _ loading: LoadingContacts, upserting upserts: [IndexedContact] = [], removing removed: [String] = [],
    generation: UInt64
  ) -> DirectoryState {
    guard let work = loading.work else {
      return DirectoryState(indexed: loading.contacts, upserting: upserts, removing: removed, generation: generation)
    }
    let added = upserts.sorted(by: IndexedContact.precedes)
    let prepared = work.join()
    guard !upserts.isEmpty || !removed.isEmpty else {  // nothing to add: no second thread
      return DirectoryState(
        ordered: listingOrder(loading.contacts, addingSorted: [], indexedInOrder: prepared.inOrder),
        index: prepared.takeIndex(), generation: generation)
    }
    let indexing = BackgroundWork { () -> Prepared in
      prepared.index.apply(upserting: upserts, removing: removed)
      return prepared
    }
    let ordered = listingOrder(loading.contacts, addingSorted: added, indexedInOrder: prepared.inOrder)
    return DirectoryState(ordered: ordered, index: indexing.join().takeIndex(), generation: generation)
  }

  /// `loaded(LoadingContacts(indexed), upserting:removing:generation:)`.
  static func loaded(
    _ indexed: [IndexedContact], upserting upserts: [IndexedContact] = [], removing removed: [String] = [],
    generation: UInt64
  ) -> DirectoryState {
    loaded(LoadingContacts(indexed), upserting: upserts, removing: removed, generation: generation)
  }
}
