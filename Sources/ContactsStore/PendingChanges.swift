import ContactsCore

/// Changes read from the journal, not yet applied.
///
/// A few are applied one by one (a sorted insertion each moves pointers, cheap); many, as
/// when a worker loads a long journal, are applied in one linear merge with only the last
/// word on each contact. A merge touches every contact, so it only pays beyond a few dozen.
struct PendingChanges {
  private var changes: [(change: ContactChange, sequence: UInt64)] = []
  private(set) var generation: UInt64 = 0
  static let mergeThreshold = 64

  mutating func add(_ change: ContactChange, sequence: UInt64) {
    changes.append((change, sequence))
    generation = sequence
  }

  var count: Int { changes.count }

  mutating func apply(to state: inout DirectoryState) {
    guard !changes.isEmpty else { return }
    if changes.count < Self.mergeThreshold {
      for (change, sequence) in changes {
        switch change {
        case .create(let contact), .update(let contact): state.upsert(contact, generation: sequence)
        case .delete(let id): state.remove(id: id, generation: sequence)
        }
      }
    } else {
      let (upserts, removals) = lastWords()
      state.apply(upserts: upserts, removals: removals, generation: generation)
    }
    self = PendingChanges()
  }

  /// The last word on each contact: its state after its last change (at that change's
  /// sequence number), or the sequence number of its deletion.
  ///
  /// Read from the newest change back, so that each id costs one set insertion and the
  /// contacts are not moved through a dictionary.
  private func lastWords() -> (upserts: [Contact], removals: [String: UInt64]) {
    var seen = Set<String>(minimumCapacity: changes.count)
    var upserts: [Contact] = []
    var removals: [String: UInt64] = [:]
    for (change, sequence) in changes.reversed() where seen.insert(change.contactID).inserted {
      switch change {
      case .create(var contact), .update(var contact):
        contact.version = sequence
        upserts.append(contact)
      case .delete(let id):
        removals[id] = sequence
      }
    }
    return (upserts, removals)
  }

  /// The state that `contacts` (at `generation`, with `changeLog`) would be in after
  /// `apply(to:)` of these changes, when there are `mergeThreshold` or more: built in one go, so
  /// that a worker loading a long journal sorts and indexes its contacts once, not twice.
  ///
  /// What `DirectoryState.apply(upserts:removals:generation:)` does to a built state, done to
  /// the list it is built from: the same contacts, change log and generation (a test compares
  /// them).
  ///
  /// - Parameters:
  ///   - indexed: the contact a change left, already indexed (by the thread that scanned the
  ///     journal), by the change's sequence number; taken when it is that very contact.
  ///   - changeLog: the change log before these changes with the given ones appended, given how
  ///     to find a contact of the state built.
  func state(
    applyingTo contacts: DirectoryState.LoadingContacts, generation: UInt64,
    indexed: (UInt64) -> IndexedContact? = { _ in nil },
    changeLog: (_ current: (String) -> IndexedContact?, _ appending: [ChangeEntry]) throws(StoreError) -> ChangeLog
  ) throws(StoreError) -> DirectoryState {
    let (upserts, removals) = lastWords()
    // In any order: the state sorts them (ids are unique, so the order is total).
    let added = upserts.map { contact in
      if let built = indexed(contact.version), built.holds(contact) { return built }
      return IndexedContact(contact)
    }
    let built = DirectoryState.loaded(
      contacts, upserting: added, removing: Array(removals.keys), generation: max(generation, self.generation))
    let logged =
      added.map { ChangeEntry(sequence: $0.version, id: $0.id, contact: $0) }
      + removals.map { ChangeEntry(sequence: $0.value, id: $0.key, contact: nil) }
    var state = built
    state.changeLog = try changeLog(built.contact(id:), logged.sorted(by: { $0.sequence < $1.sequence }))
    return state
  }
}
