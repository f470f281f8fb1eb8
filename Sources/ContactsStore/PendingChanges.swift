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
      var upserts: [String: Contact] = [:]
      var removals: [String: UInt64] = [:]
      for (change, sequence) in changes {
        switch change {
        case .create(var contact), .update(var contact):
          contact.version = sequence
          upserts[contact.id] = contact
          removals[contact.id] = nil
        case .delete(let id):
          upserts[id] = nil
          removals[id] = sequence
        }
      }
      state.apply(upserts: Array(upserts.values), removals: removals, generation: generation)
    }
    self = PendingChanges()
  }
}
