import ContactsCore
import TestSupport
import Testing

/// `DirectoryState.apply(upserts:removals:generation:)` (a bulk record, a loaded journal) must
/// leave the same contacts, in the same order, at the same versions, as applying each change
/// one by one.
struct DirectoryStateMergeTests {
  @Test(arguments: 0..<40)
  func mergingABatchEqualsApplyingItChangeByChange(seed: Int) {
    var random = SeededRandom(seed: UInt64(seed))
    let names = ["Ann", "bob", "Carla", "dave", "Eve", "ann", "Zed", "Émile", "0 desk", "Front Desk"]
    func contact(_ id: String) -> Contact {
      Contact(
        id: id, type: .custom, name: names.randomElement(using: &random)!,
        phoneNumber: "555 \(Int.random(in: 0..<100, using: &random))")
    }
    let existing = (0..<Int.random(in: 0..<300, using: &random)).map { contact("c\($0)") }
    let base = DirectoryState(contacts: existing, generation: 10)
    // Creates, updates (also of contacts created in the batch) and deletes, in one batch.
    var changes: [ContactChange] = []
    var known = existing.map(\.id)
    for index in 0..<Int.random(in: 1..<200, using: &random) {
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
  }
}
