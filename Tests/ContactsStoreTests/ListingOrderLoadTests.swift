import ContactsCore
import ContactsStore
import TestSupport
import Testing

/// A worker loading the data directory puts the contacts in the listing order however it reads
/// them (a snapshot sorted, a short journal inserted one by one, a long one merged): the code
/// points of the folded name, then the folded id, then the id, as `sortBy=name` orders.
struct ListingOrderLoadTests {
  /// Folded: `zq fi`, `zq g`, `zq ss`, `zq st`, `zq σασ` (twice: ids 5, then 6), `zr e◌́`,
  /// `zr f`, `zr é`; ids are 32 hex digits, as custom contacts' are.
  static let names = [
    "Zq \u{FB01}", "Zq g", "Zq ß", "Zq st", "Zq \u{3C3}\u{3B1}\u{3C2}", "ZQ \u{3A3}\u{391}\u{3A3}", "Zr e\u{301}",
    "Zr f", "Zr \u{E9}",
  ]
  static func id(_ number: Int) -> String {
    let digits = String(number, radix: 16)
    return String(repeating: "0", count: 32 - digits.count) + digits
  }
  static let expected = names.indices.map { id($0 + 1) }

  /// Commits the names in reverse after `fillers` other contacts, compacting where asked, and
  /// checks the order of a worker that followed and of one that loads the directory afresh.
  @Test(arguments: [
    (0, false, false), (0, false, true), (70, false, false), (70, true, false), (70, false, true),
  ])
  func theLoadedListingIsInCodePointOrder(fillers: Int, compactFillers: Bool, compactAll: Bool) throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    for index in 0..<fillers {
      let contact = Contact(id: Self.id(1000 + index), type: .custom, name: "Zq filler \(index)")
      _ = try writer.commit(by: "tester") { _ in .create(contact) }
    }
    if compactFillers { try writer.compact() }
    for (offset, name) in Self.names.enumerated().reversed() {
      let contact = Contact(id: Self.id(offset + 1), type: .custom, name: name)
      _ = try writer.commit(by: "tester") { _ in .create(contact) }
    }
    if compactAll { try writer.compact() }
    let byName = try #require(try ContactQuery.parse("sortBy=name").order)
    for (worker, state) in [
      ("writer", try writer.currentState()),
      ("loaded", try FileContactRepository(directory: directory.path).currentState()),
    ] {
      let ids = state.entries.map(\.contact.id)
      #expect(ids.filter(Self.expected.contains) == Self.expected, "\(worker)")
      #expect(byName.sorted(state.entries).map(\.contact.id) == ids, "\(worker): sortBy=name")
    }
  }
}
