import ContactsCore
import TestSupport
import Testing

/// Filters and `q` compare text case-folded (Unicode full case folding, `TextFolding.fold`) on
/// both sides, and the listing's own order is `sortBy=name`'s: the code points of the folded
/// name, then the folded id, then the id as sent, whichever way the contacts arrived.
struct FullCaseFoldingTests {
  static let folding = [
    Contact(id: "s1", type: .queue, name: "P1 Straße"),
    Contact(id: "f1", type: .custom, name: "P1 \u{FB01}x"),
    Contact(id: "g1", type: .queue, name: "Zq \u{3C3}\u{3B1}\u{3C2}"),
    Contact(id: "u1", type: .user, name: "Ute Gross", userName: "ute", lastName: "GROẞ"),
  ]

  @Test(arguments: [
    ("name=p1+strasse", ["s1"]), ("name=P1+STRASSE", ["s1"]), ("name=P1+STRA%E1%BA%9EE", ["s1"]),
    ("name=p1+stra%C3%9Fe", ["s1"]), ("name=P1+fix", ["f1"]), ("name=p1+%EF%AC%81X", ["f1"]),
    ("name=ZQ+%CE%A3%CE%91%CE%A3", ["g1"]), ("name=zq+%CF%83%CE%B1%CF%83", ["g1"]), ("lastName=gross", ["u1"]),
    ("lastName=gro%C3%9F", ["u1"]), ("name=p1+stra", []), ("q=strasse", ["s1"]), ("q=STRASS", ["s1"]),
    ("q=%C3%9F", ["u1", "s1"]), ("q=gro%C3%9F", ["u1"]), ("q=fix", ["f1"]), ("q=%EF%AC%81", ["f1"]),
    ("q=%CE%A3%CE%91%CE%A3", ["g1"]), ("q=%CE%B1%CF%82", ["g1"]),
  ])
  func filtersAndSearchFoldBothSides(query: String, expected: [String]) throws {
    let state = DirectoryState(contacts: Self.folding, generation: 1)
    let parsed = try ContactQuery.parse(query)
    let scan = state.entries.filter(parsed.matches).map(\.contact.id)
    #expect(Set(scan) == Set(expected), "\(query)")
    #expect(scan == state.entries.map(\.contact.id).filter(expected.contains), "\(query): in listing order")
    // Through the index, when it narrows the query down (every filter; a `q` of three bytes or more).
    let index = state.indexedEntries(matching: parsed)?.map(\.contact.id)
    #expect(index == scan || (index == nil && parsed.filters.isEmpty && parsed.text!.count < 3), "\(query)")
  }

  /// Folded: `zq fi`, `zq g`, `zq ss`, `zq st`, `zq σασ` three times (ids `S1`, `s1`, `s2`: the
  /// folded ids tie for the first two, then `S` < `s`), `zr e◌́`, `zr f`, `zr é` (U+00E9 after
  /// `f`; `e` + U+0301 before it, though `String` holds the two equal).
  static let ordered = [
    Contact(id: "fi", type: .custom, name: "Zq \u{FB01}"),
    Contact(id: "g", type: .custom, name: "Zq g"),
    Contact(id: "ss", type: .custom, name: "Zq ß"),
    Contact(id: "st", type: .custom, name: "Zq st"),
    Contact(id: "S1", type: .custom, name: "Zq \u{3C3}\u{3B1}\u{3C2}"),
    Contact(id: "s1", type: .custom, name: "ZQ \u{3C3}\u{3B1}\u{3C3}"),
    Contact(id: "s2", type: .custom, name: "Zq \u{3A3}\u{391}\u{3A3}"),
    Contact(id: "decomposed", type: .custom, name: "Zr e\u{301}"),
    Contact(id: "f", type: .custom, name: "Zr f"),
    Contact(id: "precomposed", type: .custom, name: "Zr \u{E9}"),
  ]
  static let expected = ordered.map(\.id)

  /// `state`'s order is the expected one, `sortBy=name`'s, and the index's answers keep it.
  func expectListingOrder(_ state: DirectoryState, _ comment: String) throws {
    let ids = state.entries.map(\.contact.id)
    #expect(ids.filter(Self.expected.contains) == Self.expected, "\(comment)")
    let byName = try #require(try ContactQuery.parse("sortBy=name").order)
    #expect(byName.sorted(state.entries).map(\.contact.id) == ids, "\(comment): sortBy=name")
    let descending = try #require(try ContactQuery.parse("sortBy=name&order=desc").order)
    #expect(descending.sorted(state.entries).map(\.contact.id) == ids.reversed(), "\(comment): descending")
    let found = try #require(state.indexedEntries(matching: try ContactQuery.parse("q=zq+")))
    #expect(
      found.map(\.contact.id).filter(Self.expected.contains) == Array(Self.expected.prefix(7)),
      "\(comment): through the index")
  }

  @Test func theListingIsInCodePointOrderBuiltInAnyOrder() throws {
    var random = SeededRandom(seed: 0xF01D)
    for round in 0..<20 {
      var contacts = Self.ordered
      if round == 1 { contacts.reverse() } else if round > 1 { contacts.shuffle(using: &random) }
      try expectListingOrder(DirectoryState(contacts: contacts, generation: 1), "built, round \(round)")
    }
  }

  /// Each insertion finds its place by binary search (`ListingOrder.insert`).
  @Test func theListingIsInCodePointOrderInsertedOneByOne() throws {
    var random = SeededRandom(seed: 0xF01E)
    for round in 0..<20 {
      var contacts = Self.ordered
      if round == 1 { contacts.reverse() } else if round > 1 { contacts.shuffle(using: &random) }
      var state = DirectoryState(contacts: [Contact(id: "a", type: .custom, name: "Zq a")], generation: 1)
      for (offset, contact) in contacts.enumerated() { state.upsert(contact, generation: UInt64(offset + 2)) }
      try expectListingOrder(state, "inserted, round \(round)")
      // Renamed in place and back: removed and inserted again at its new place.
      var renamed = Self.ordered[2]
      renamed.name = "Zz"
      state.upsert(renamed, generation: 100)
      state.upsert(Self.ordered[2], generation: 101)
      try expectListingOrder(state, "renamed, round \(round)")
    }
  }

  /// A batch (a bulk record, a journal loaded) is merged in one pass (`DirectoryState.merge`).
  @Test func theListingIsInCodePointOrderMergedAsABatch() throws {
    var random = SeededRandom(seed: 0xF01F)
    for round in 0..<20 {
      var contacts = Self.ordered
      contacts.shuffle(using: &random)
      let split = random.next(upTo: contacts.count + 1)
      var state = DirectoryState(contacts: Array(contacts[..<split]), generation: 1)
      let batch = contacts[split...].map { contact in
        var contact = contact
        contact.version = 2
        return contact
      }
      state.apply(upserts: batch, removals: [:], generation: 2)
      try expectListingOrder(state, "merged, round \(round), \(split) before")
      let built = DirectoryState(
        indexed: contacts[..<split].map { IndexedContact($0) }, upserting: batch.map { IndexedContact($0) },
        removing: [String](), generation: 2)
      try expectListingOrder(built, "built with upserts, round \(round)")
    }
  }
}
