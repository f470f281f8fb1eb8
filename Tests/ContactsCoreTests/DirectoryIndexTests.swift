import ContactsCore
import TestSupport
import Testing

/// The index answers exactly what the scan (`entries.filter(query.matches)`) answers, in the same
/// order, whatever the data, the query and the changes in between.
@Suite struct DirectoryIndexTests {
  /// Words that collide on purpose: case, diacritics (precomposed and not), non-Latin text,
  /// separators, digits inside names, spaces, letters that fold longer (`ß`, `ﬁ`) or to another's
  /// fold (`ς`).
  static let words = [
    "Anna", "anna", "ANNA", "Ånna", "Zoë", "ZOË", "Zoe\u{308}", "José", "jose", "O'Brien", "van der Berg", "Li",
    "李小龙", "Δημήτρης", "ΔΗΜΉΤΡΗΣ", "Sales", "sales desk", "x-y", "Room 101", "a", "ab", "abc", "Straße", "İlker",
    "emoji 😀", "  ", "STRASSE", "STRA\u{1E9E}E", "\u{FB01}x", "FIX", "\u{3A3}\u{391}\u{3A3}", "\u{3C3}\u{3B1}\u{3C2}",
  ]
  static let phones = [
    "+1 (555) 010-0123", "555-123-4567", "(555) 123 4567", "+44 20 7946 0958", "0100", "5", "55", "x 12#",
  ]

  static func text(_ random: inout SeededRandom) -> String {
    var parts: [String] = []
    for _ in 0...random.next(upTo: 2) { parts.append(words[random.next(upTo: words.count)]) }
    return parts.joined(separator: random.next(upTo: 4) == 0 ? "-" : " ")
  }

  static func optionalText(_ random: inout SeededRandom) -> String? {
    switch random.next(upTo: 6) {
    case 0: nil
    case 1: ""
    default: text(&random)
    }
  }

  static func contact(_ random: inout SeededRandom, id: String, type: ContactType) -> Contact {
    let phone: String? = random.next(upTo: 8) == 0 ? nil : phones[random.next(upTo: phones.count)]
    switch type {
    case .user:
      return Contact(
        id: id, type: .user, name: text(&random), phoneNumber: phone, userName: optionalText(&random),
        firstName: optionalText(&random), lastName: optionalText(&random),
        employeeId: random.next(upTo: 3) == 0 ? nil : "E\(random.next(upTo: 50))")
    default:
      return Contact(id: id, type: type, name: text(&random), phoneNumber: phone ?? "555")
    }
  }

  static func id(_ random: inout SeededRandom) -> String {
    let base = "id-\(random.next(upTo: 300))"
    return random.next(upTo: 10) == 0 ? base.uppercased() : base  // ids that fold alike
  }

  static func randomCase(_ text: String, _ random: inout SeededRandom) -> String {
    switch random.next(upTo: 3) {
    case 0: text.uppercased()
    case 1: text.lowercased()
    default: text
    }
  }

  /// A query string: filters drawn from the data (so that they match) or not, a `q` of 0–6
  /// characters cut from a contact's text or phone number, sometimes paging and an order.
  static func query(_ random: inout SeededRandom, in state: DirectoryState) -> String {
    var pieces: [String] = []
    let sample = state.entries.isEmpty ? nil : state.entries[random.next(upTo: state.entries.count)].contact
    for _ in 0..<random.next(upTo: 3) {
      let attribute = ContactAttribute.allCases[random.next(upTo: ContactAttribute.allCases.count)]
      var value: String
      switch attribute {
      case .id: value = sample?.id ?? "none"
      case .name: value = sample?.name ?? "none"
      case .type: value = ["Custom", "queue", "USER"][random.next(upTo: 3)]
      case .phoneNumber: value = sample?.phoneNumber ?? phones[random.next(upTo: phones.count)]
      case .userName: value = sample?.userName ?? ""
      case .firstName: value = sample?.firstName ?? text(&random)
      case .lastName: value = sample?.lastName ?? ""
      case .employeeId: value = sample?.employeeId ?? "E1"
      }
      if attribute != .type && random.next(upTo: 5) == 0 { value = text(&random) }
      pieces.append("\(attribute.rawValue)=\(PercentEncoding.encode(randomCase(value, &random)))")
    }
    if random.next(upTo: 3) > 0 {
      let source: String
      switch random.next(upTo: 4) {
      case 0: source = sample?.phoneNumber ?? "555"
      case 1: source = text(&random)
      default:
        source = [sample?.name, sample?.userName, sample?.lastName, sample?.employeeId].compactMap { $0 }
          .joined(separator: random.next(upTo: 2) == 0 ? " " : "")
      }
      let characters = Array(source)
      let length = min(random.next(upTo: 7), characters.count)
      let start = random.next(upTo: characters.count - length + 1)
      let q = String(characters[start..<(start + length)])
      pieces.append("q=\(PercentEncoding.encode(randomCase(q, &random)))")
    }
    if random.next(upTo: 4) == 0 { pieces.append("limit=\(1 + random.next(upTo: 5))&offset=\(random.next(upTo: 4))") }
    if random.next(upTo: 6) == 0 { pieces.append("sortBy=lastName&order=desc") }
    return pieces.joined(separator: "&")
  }

  /// - Returns: whether the index answered (rather than a scan).
  @discardableResult
  static func expectSameAsScan(_ rawQuery: String, in state: DirectoryState) throws -> Bool {
    let query = try ContactQuery.parse(rawQuery)
    let scanned = state.entries.filter(query.matches).map(\.contact.id)
    #expect(state.entries(matching: query).map(\.contact.id) == scanned, "query \(rawQuery)")
    guard let indexed = state.indexedEntries(matching: query) else { return false }
    #expect(indexed.map(\.contact.id) == scanned, "query \(rawQuery)")
    return true
  }

  /// Random contacts, random changes of every kind (one by one, in bulk, imports), random
  /// queries between them, and now and then an old copy of the state kept and queried again
  /// after the new one changed.
  @Test(arguments: [1 as UInt64, 2, 3, 4])
  func indexAnswersWhatTheScanAnswers(seed: UInt64) throws {
    var random = SeededRandom(seed: 0x1D3 &* seed)
    var state = DirectoryState(
      contacts: (0..<150).map { Self.contact(&random, id: "start-\($0)", type: ContactType.allCases[$0 % 3]) },
      generation: 1)
    var generation: UInt64 = 1
    var kept: [(DirectoryState, [String])] = []
    var (queries, indexed) = (0, 0)
    var forms = (arrays: false, bitmaps: false)
    for step in 0..<1500 {
      generation += 1
      switch random.next(upTo: 10) {
      case 0...3:
        let type = ContactType.allCases[random.next(upTo: 3)]
        state.upsert(Self.contact(&random, id: Self.id(&random), type: type), generation: generation)
      case 4, 5:
        let victim =
          random.next(upTo: 2) == 0 && !state.entries.isEmpty
          ? state.entries[random.next(upTo: state.entries.count)].contact.id : Self.id(&random)
        state.remove(id: victim, generation: generation)
      case 6:
        var upserts: [String: Contact] = [:]
        var removals: [String: UInt64] = [:]
        for _ in 0..<random.next(upTo: 80) {
          let target = Self.id(&random)
          if random.next(upTo: 3) == 0 {
            upserts[target] = nil
            removals[target] = generation
          } else {
            var changed = Self.contact(&random, id: target, type: .custom)
            changed.version = generation
            upserts[target] = changed
            removals[target] = nil
          }
        }
        state.apply(upserts: Array(upserts.values), removals: removals, generation: generation)
      case 7 where step % 5 == 0:
        // An import: some users unchanged (they keep their slots), some changed, new, gone.
        let type: ContactType = random.next(upTo: 2) == 0 ? .user : .queue
        var imported = state.contacts(ofType: type).filter { _ in random.next(upTo: 4) > 0 }
        for index in imported.indices where random.next(upTo: 5) == 0 {
          imported[index] = Self.contact(&random, id: imported[index].id, type: type)
        }
        for _ in 0..<random.next(upTo: 40) {
          let new = "imp-\(random.next(upTo: 200))"
          if !state.contains(id: new) && !imported.contains(where: { $0.id == new }) {
            imported.append(Self.contact(&random, id: new, type: type))
          }
        }
        state.replaceAll(ofType: type, with: imported, generation: generation)
      default:
        break
      }
      for _ in 0..<3 {
        queries += 1
        if try Self.expectSameAsScan(Self.query(&random, in: state), in: state) { indexed += 1 }
      }
      if let statistics = state.indexStatistics {
        forms.bitmaps = forms.bitmaps || statistics.bitmaps > 0
        forms.arrays = forms.arrays || statistics.lists > statistics.bitmaps
      }
      if random.next(upTo: 50) == 0 {
        let rawQuery = Self.query(&random, in: state)
        kept.append((state, [rawQuery]))
      }
    }
    #expect(state.isIndexBuilt)
    #expect(indexed * 3 > queries, "the index answered \(indexed) of \(queries) queries")
    // Posting lists were held in both forms (`PostingList`) along the way.
    #expect(forms.arrays && forms.bitmaps)
    // Copies taken along the way still answer for their own contacts.
    for (old, queries) in kept {
      for rawQuery in queries { try Self.expectSameAsScan(rawQuery, in: old) }
      for _ in 0..<5 { try Self.expectSameAsScan(Self.query(&random, in: old), in: old) }
    }
  }

  /// Thousands of changes to a few contacts: the index drops itself when empty and appended
  /// slots outweigh live ones, and the next query builds it again with the same answers.
  @Test func manyChangesToFewContactsKeepAnswersExact() throws {
    var random = SeededRandom(seed: 0xBEEF)
    var state = DirectoryState(
      contacts: (0..<40).map { Self.contact(&random, id: "c\($0)", type: .custom) }, generation: 1)
    for step in 0..<6000 {
      state.upsert(Self.contact(&random, id: "c\(random.next(upTo: 60))", type: .custom), generation: UInt64(step + 2))
      if step % 7 == 0 { try Self.expectSameAsScan(Self.query(&random, in: state), in: state) }
      if step % 97 == 0 { state.remove(id: "c\(random.next(upTo: 60))", generation: UInt64(step + 2)) }
    }
  }

  @Test func indexIsBuiltOnlyForAQueryItCanNarrow() throws {
    var random = SeededRandom(seed: 7)
    let state = DirectoryState(
      contacts: (0..<50).map { Self.contact(&random, id: "c\($0)", type: .user) }, generation: 1)
    for raw in ["", "q=", "q=a", "q=an", "q=ann5", "q=a55", "limit=3", "sortBy=name"] {
      try Self.expectSameAsScan(raw, in: state)
    }
    #expect(!state.isIndexBuilt)
    try Self.expectSameAsScan("q=ann", in: state)
    #expect(state.isIndexBuilt)
  }

  /// Queries no client means well with: a `q` of 1,000 characters, only spaces, every
  /// character of the search text's separator region, a filter on an empty value.
  @Test(arguments: [
    "q=" + String(repeating: "an", count: 500), "q=" + String(repeating: "5", count: 1000), "q=+++", "q=%20%20%20%20",
    "q=%F0%9F%98%80", "q=%C3%85nna", "q=ANNA+JOS%C3%89", "phoneNumber=", "phoneNumber=abc", "userName=",
    "firstName=&lastName=", "id=ID-1&id=id-2&id=ID-2", "type=User&type=Queue&q=555", "q=%CE%B4%CE%B7%CE%BC",
    "q=stra%C3%9Fe", "q=zoe%CC%88",
  ])
  func hostileQueriesMatchTheScan(rawQuery: String) throws {
    var random = SeededRandom(seed: 11)
    let contacts = (0..<300).map { Self.contact(&random, id: "id-\($0)", type: ContactType.allCases[$0 % 3]) }
    try Self.expectSameAsScan(rawQuery, in: DirectoryState(contacts: contacts, generation: 1))
  }
}
