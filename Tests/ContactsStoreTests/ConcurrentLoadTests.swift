import ContactsCore
import TestSupport
import Testing

@testable import ContactsStore

/// A worker loading many contacts indexes them by id on a thread of its own, starting as soon as
/// it has read them, while it gathers the journal's changes and puts everything in listing order
/// (`DirectoryState.LoadingContacts`, `DirectoryState.loaded`). The state must be the one the same
/// contacts give on one thread: same order, same contacts by id, the same objects kept.
struct ConcurrentLoadTests {
  /// Everything of a state that `loaded` builds, as text, and the objects it kept.
  static func shape(_ state: DirectoryState) -> (text: [String], objects: [ObjectIdentifier]) {
    let text = state.entries.map { "\($0.contact.id) \($0.contact.name) v\($0.contact.version)" }
    return (
      text + ["count \(state.count)", "generation \(state.generation)"], state.entries.map(ObjectIdentifier.init)
    )
  }

  /// - Parameters:
  ///   - repeated: the snapshot holds two of its ids twice.
  ///   - unordered: the snapshot is not in listing order (a file written otherwise; a database's
  ///     rows), so the contacts are sorted whole.
  @Test(arguments: [
    (0, 0, false, false), (2_000, 0, false, false), (0, 600, false, false), (1_500, 400, false, false),
    (800, 300, true, false), (700, 200, false, true), (0, 0, false, true),
  ])
  func theStateIsTheOneThreadsWouldNotChange(creates: Int, replacedOrRemoved: Int, repeated: Bool, unordered: Bool) {
    var random = SeededRandom(
      seed: UInt64(creates + replacedOrRemoved * 7 + (repeated ? 1 : 0) + (unordered ? 3 : 0)))
    let names = ["Ann", "bob", "Émile", "ann", "Zed", "0 desk", "Front Desk"]
    func contact(_ id: String, version: UInt64) -> IndexedContact {
      IndexedContact(
        Contact(
          id: id, type: .custom, name: names.randomElement(using: &random)!, phoneNumber: "555 \(id)",
          version: version))
    }
    let snapshotCount = DirectoryState.concurrentLoadCount + 1_000
    var snapshot = (0..<snapshotCount).map { contact("c\($0)", version: UInt64($0 + 1)) }
    snapshot.sort(by: { ($0.contact.name.lowercased(), $0.contact.id) < ($1.contact.name.lowercased(), $1.contact.id) })
    if repeated {
      // The last of two with one id counts, wherever it stands.
      snapshot.insert(contact("c5", version: 7_000), at: snapshotCount / 2)
      snapshot.append(contact("c10", version: 7_001))
    }
    var upserts: [IndexedContact] = []
    var removed: [String] = []
    var sequence = UInt64(snapshotCount) + 10_000
    for index in 0..<creates {
      sequence += 1
      upserts.append(contact("n\(index)", version: sequence))
    }
    for index in 0..<replacedOrRemoved {
      sequence += 1
      let id = "c\(index * 3)"
      if index.isMultiple(of: 2) { upserts.append(contact(id, version: sequence)) } else { removed.append(id) }
    }
    upserts.shuffle(using: &random)
    if unordered { snapshot.shuffle(using: &random) }
    if !repeated { #expect(DirectoryState.isInListingOrder(snapshot) == !unordered) }

    let oneThread = DirectoryState(indexed: snapshot, upserting: upserts, removing: removed, generation: sequence)
    let twoThreads = DirectoryState.loaded(snapshot, upserting: upserts, removing: removed, generation: sequence)

    #expect(Self.shape(twoThreads).text == Self.shape(oneThread).text)
    #expect(Self.shape(twoThreads).objects == Self.shape(oneThread).objects)
    for entry in oneThread.entries { #expect(twoThreads.contact(id: entry.contact.id) === entry) }
    for id in removed { #expect(!twoThreads.contains(id: id)) }
    #expect(twoThreads.count == snapshotCount + creates - replacedOrRemoved / 2)
    if repeated {
      let lastC5 = snapshot.last { $0.contact.id == "c5" }
      #expect(twoThreads.contact(id: "c5") === lastC5)
      #expect(twoThreads.contact(id: "c10")?.contact.version == 7_001)
    }
  }
}
