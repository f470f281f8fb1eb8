import TestSupport
import Testing

@testable import ContactsCore

/// `DirectoryState.apply(upserts:removals:generation:)` (a bulk record, a loaded journal) must
/// leave the same contacts, in the same order, at the same versions, as applying each change
/// one by one.
struct DirectoryStateMergeTests {
  @Test(arguments: 0..<40)
  func mergingABatchEqualsApplyingItChangeByChange(seed: Int) {
    check(seed: seed, existing: 0..<300, batch: 1..<200)
  }

  /// A batch under a sixteenth of the directory goes into the order change by change instead
  /// of through the merge (a bulk record read by a worker of a large directory): the same result.
  @Test(arguments: 0..<8)
  func aSmallBatchIntoALargeDirectoryEqualsApplyingItChangeByChange(seed: Int) {
    check(seed: 1000 + seed, existing: 3000..<4000, batch: 1..<120)
  }

  func check(seed: Int, existing existingCount: Range<Int>, batch: Range<Int>) {
    var random = SeededRandom(seed: UInt64(seed))
    let names = ["Ann", "bob", "Carla", "dave", "Eve", "ann", "Zed", "Émile", "0 desk", "Front Desk"]
    func contact(_ id: String) -> Contact {
      Contact(
        id: id, type: .custom, name: names.randomElement(using: &random)!,
        phoneNumber: "555 \(Int.random(in: 0..<100, using: &random))")
    }
    let existing = (0..<Int.random(in: existingCount, using: &random)).map { contact("c\($0)") }
    let base = DirectoryState(contacts: existing, generation: 10)
    // Creates, updates (also of contacts created in the batch) and deletes, in one batch.
    var changes: [ContactChange] = []
    var known = existing.map(\.id)
    for index in 0..<Int.random(in: batch, using: &random) {
      switch Int.random(in: 0..<3, using: &random) {
      case 0:
        let created = contact("n\(seed)-\(index)")
        known.append(created.id)
        changes.append(.create(created))
      case 1 where !known.isEmpty:
        changes.append(.update(contact(known.randomElement(using: &random)!)))
      default:
        if let id = known.randomElement(using: &random) { changes.append(.delete(id: id)) }
      }
    }
    var oneByOne = base
    for (offset, change) in changes.enumerated() { oneByOne.apply(change, generation: 11 + UInt64(offset)) }

    var upserts: [String: Contact] = [:]
    var removals: [String: UInt64] = [:]
    for (offset, change) in changes.enumerated() {
      let sequence = 11 + UInt64(offset)
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
    var merged = base
    merged.apply(upserts: Array(upserts.values), removals: removals, generation: 10 + UInt64(changes.count))

    #expect(merged.entries.map(\.contact) == oneByOne.entries.map(\.contact))
    #expect(merged.generation == oneByOne.generation)
    for entry in oneByOne.entries { #expect(merged.contact(id: entry.contact.id)?.contact == entry.contact) }
    #expect(merged.count == oneByOne.count)
    #expect(merged.entries.isWellFormed)
  }

  /// A loader builds the state from the snapshot's contacts and the journal's last word on each
  /// (`init(indexed:upserting:removing:generation:)`). With creates only, the snapshot's list is
  /// taken as it is; with a replaced, removed or repeated contact it is filtered. Either way the
  /// state is the one a state built from the snapshot and then changed one by one would be.
  @Test(arguments: [(0, 0, false), (60, 0, false), (0, 25, false), (40, 20, false), (30, 10, true)])
  func buildingWithTheLastWordsEqualsChangingABuiltState(creates: Int, replacedOrRemoved: Int, repeated: Bool) {
    var random = SeededRandom(seed: UInt64(creates * 100 + replacedOrRemoved))
    let names = ["Ann", "bob", "Émile", "ann", "Zed", "0 desk"]
    func contact(_ id: String, version: UInt64) -> Contact {
      Contact(
        id: id, type: .custom, name: names.randomElement(using: &random)!, phoneNumber: "555 \(id)",
        version: version)
    }
    var snapshot = (0..<200).map { IndexedContact(contact("c\($0)", version: UInt64($0 + 1))) }
    if repeated { snapshot.append(IndexedContact(contact("c5", version: 200))) }  // the last one counts
    var expected = DirectoryState(indexed: snapshot, generation: 200)
    var upserts: [IndexedContact] = []
    var removed: [String] = []
    var sequence: UInt64 = 200
    for index in 0..<creates {
      sequence += 1
      let created = contact("n\(index)", version: sequence)
      upserts.append(IndexedContact(created))
      expected.upsert(created, generation: sequence)
    }
    for index in 0..<replacedOrRemoved {
      sequence += 1
      let id = "c\(index * 7)"
      if index.isMultiple(of: 2) {
        let updated = contact(id, version: sequence)
        upserts.append(IndexedContact(updated))
        expected.upsert(updated, generation: sequence)
      } else {
        removed.append(id)
        expected.remove(id: id, generation: sequence)
      }
    }
    let built = DirectoryState(
      indexed: snapshot, upserting: upserts.shuffled(using: &random), removing: removed, generation: sequence)
    #expect(built.entries.map(\.contact) == expected.entries.map(\.contact))
    #expect(built.count == 200 + creates - replacedOrRemoved / 2)
    for entry in built.entries { #expect(built.contact(id: entry.contact.id) === entry) }
    #expect(built.generation == sequence)
    #expect(built.contact(id: "c5")?.contact.version == (repeated ? 200 : 6))
  }

  /// A loader's listing order: the snapshot's contacts checked to be in order, then the
  /// journal's merged in. Whatever the input (in order or not, names that fold alike, the same
  /// contact on both sides), exactly the objects a stable sort of the two lists gives, in its
  /// order.
  @Test(arguments: 0..<24)
  func listingOrderIsAStableSortOfBothLists(seed: Int) {
    var random = SeededRandom(seed: UInt64(seed))
    let names = ["Ann", "ann", "ANN", "bob", "Émile", "Zed", "0 desk", "Front Desk"]
    func entry(_ id: String) -> IndexedContact {
      IndexedContact(Contact(id: id, type: .custom, name: names.randomElement(using: &random)!, phoneNumber: "555"))
    }
    let snapshotCount = [0, 1, 2, 50, 300].randomElement(using: &random)!
    var snapshot = (0..<snapshotCount).map { entry("c\($0 % 40)") }.sorted(by: IndexedContact.precedes)
    // Every fourth list is not in order: a file written otherwise is sorted whole.
    if seed % 4 == 3 { snapshot.shuffle(using: &random) }
    let changes = (0..<[0, 1, 7, 120].randomElement(using: &random)!).map { _ in
      entry("c\(Int.random(in: 0..<60, using: &random))")
    }

    let ordered = DirectoryState.listingOrder(snapshot, adding: changes)
    let expected = (snapshot + changes).sorted(by: IndexedContact.precedes)
    #expect(ordered.count == expected.count)
    #expect(zip(ordered, expected).allSatisfy { (got: IndexedContact, wanted: IndexedContact) in got === wanted })
  }
}
