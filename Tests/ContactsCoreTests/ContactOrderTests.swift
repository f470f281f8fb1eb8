import ContactsCore
import TestSupport
import Testing

/// `sortBy` and `order` against `SortReference`, written independently of `ContactOrder`, over
/// random data and random `sortBy` and `order`; then the rules one by one.
struct ContactOrderTests {
  static let attributes = SortReference.attributes

  /// A record of `SortReference` as a contact.
  static func contact(_ record: [String: String]) -> Contact {
    Contact(
      id: record["id"]!, type: ContactType(rawValue: record["type"]!)!, name: record["name"]!,
      phoneNumber: record["phoneNumber"], userName: record["userName"], firstName: record["firstName"],
      lastName: record["lastName"], employeeId: record["employeeId"])
  }

  @Test func randomOrdersMatchTheReference() throws {
    var random = SeededRandom(seed: 0x50_47)
    for round in 0..<300 {
      let records = SortReference.randomRecords(&random, count: 1 + random.next(upTo: 60))
      let state = DirectoryState(contacts: records.map(Self.contact), generation: 1)
      let keys = SortReference.randomKeys(&random)
      let spelling = ["Ascending", "asc", "ASC", "Descending", "desc", "dEsCeNdInG"][random.next(upTo: 6)]
      let descending = spelling.lowercased().hasPrefix("desc")
      let query = try ContactQuery.parse("sortBy=\(keys.joined(separator: ","))&order=\(spelling)")
      let order = try #require(query.order)
      #expect(order.descending == descending)
      #expect(order.keys.map(\.rawValue) == keys)
      let sorted = order.sorted(state.entries).map(\.contact.id)
      #expect(sorted == SortReference.order(records, keys: keys, descending: descending), "round \(round): \(keys)")
    }
  }

  @Test func sortByDefaultsToNameAndOrderToAscending() throws {
    #expect(try ContactQuery.parse("").order == nil)
    #expect(try ContactQuery.parse("type=User&limit=3").order == nil)
    #expect(try ContactQuery.parse("order=desc").order == ContactOrder(keys: [.name], descending: true))
    #expect(try ContactQuery.parse("sortBy=lastName,firstName").order == ContactOrder(keys: [.lastName, .firstName]))
  }

  /// Code points, not `String`'s `<`: `e` + U+0301 and U+00E9 are canonically equivalent, so
  /// `String` orders these two by what follows; their first code points (U+0065, U+00E9) differ.
  /// The listing without `sortBy` (`IndexedContact.precedes`) is in the same order.
  @Test func textComparesByCodePoints() throws {
    let contacts = [
      Contact(id: "precomposed", type: .queue, name: "\u{E9}a"),
      Contact(id: "decomposed", type: .queue, name: "e\u{301}b"),
    ]
    let state = DirectoryState(contacts: contacts, generation: 1)
    let order = try #require(try ContactQuery.parse("sortBy=name").order)
    #expect(order.sorted(state.entries).map(\.contact.id) == ["decomposed", "precomposed"])
    #expect(state.entries.map(\.contact.id) == ["decomposed", "precomposed"])
    #expect(ContactOrder.compareCodePoints("Z", "a") < 0)
    #expect(ContactOrder.compareCodePoints("ab", "a") > 0)
    #expect(ContactOrder.compareCodePoints("\u{FFFF}", "\u{1F600}") < 0)
  }

  @Test func aMissingAttributeComparesAsTheEmptyString() throws {
    let contacts = [
      Contact(id: "u1", type: .user, name: "B", userName: "a"),
      Contact(id: "q1", type: .queue, name: "A"),
      Contact(id: "u2", type: .user, name: "C", userName: ""),
      Contact(id: "u0", type: .user, name: "D"),
    ]
    let state = DirectoryState(contacts: contacts, generation: 1)
    let ascending = try #require(try ContactQuery.parse("sortBy=userName").order)
    #expect(ascending.sorted(state.entries).map(\.contact.id) == ["q1", "u0", "u2", "u1"])
    let descending = try #require(try ContactQuery.parse("sortBy=userName&order=Descending").order)
    #expect(descending.sorted(state.entries).map(\.contact.id) == ["u1", "u2", "u0", "q1"])
  }

  @Test func idsThatFoldAlikeAreOrderedAsSent() throws {
    let contacts = [
      Contact(id: "b", type: .queue, name: "Same"), Contact(id: "a", type: .queue, name: "Same"),
      Contact(id: "A", type: .queue, name: "same"),
    ]
    let state = DirectoryState(contacts: contacts, generation: 1)
    let order = try #require(try ContactQuery.parse("sortBy=name").order)
    #expect(order.sorted(state.entries).map(\.contact.id) == ["A", "a", "b"])
    let reversed = try #require(try ContactQuery.parse("sortBy=type&order=desc").order)
    #expect(reversed.sorted(state.entries).map(\.contact.id) == ["b", "a", "A"])
  }

  @Test(arguments: [
    ("sortBy=nope", "sortBy", "nope"),
    ("sortBy=Name", "sortBy", "Name"),
    ("sortBy=name,,id", "sortBy", "empty"),
    ("sortBy=", "sortBy", "empty"),
    ("sortBy=name%2C%20id", "sortBy", " id"),
    ("sortBy=*", "sortBy", "*"),
    ("order=up", "order", "up"),
    ("order=", "order", "''"),
    ("fields=colour", "fields", "colour"),
    ("fields=*,name", "fields", "*"),
    ("fields=name,", "fields", "empty"),
    ("sortBy=name&sortBy=id", "sortBy", "only once"),
    ("order=asc&order=asc", "order", "only once"),
    ("fields=*&fields=id", "fields", "only once"),
  ])
  func badSortAndFieldsAreRefused(query: String, parameter: String, mentions: String) {
    do {
      _ = try ContactQuery.parse(query)
      Issue.record("\(query) was accepted")
    } catch {
      #expect(error.parameter == parameter)
      #expect(error.message.contains(mentions), "\(error.message)")
      if !mentions.contains("once") {
        let allowed = parameter == "order" ? ["Ascending", "Descending"] : ["name", "employeeId"]
        for name in allowed { #expect(error.message.contains(name), "\(error.message)") }
      }
    }
  }

  /// nginx/openapi.json quotes these messages in its `InvalidQuery` examples.
  @Test(arguments: [
    (
      "sortBy=age",
      "Unknown attribute 'age' in 'sortBy'; allowed: a comma-separated list of id, name, type, phoneNumber, userName, firstName, lastName, employeeId (names are case-sensitive)"
    ),
    ("order=up", "Unknown order 'up'; allowed: Ascending, Descending (any case; asc and desc too)"),
    (
      "firstname=Joe",
      "Unknown query parameter 'firstname'; allowed: id, name, type, phoneNumber, userName, firstName, lastName, employeeId, q, limit, offset, sortBy, order, fields (names are case-sensitive)"
    ),
  ])
  func messagesAreAsDocumented(query: String, message: String) {
    do {
      _ = try ContactQuery.parse(query)
      Issue.record("\(query) was accepted")
    } catch {
      #expect(error.message == message)
    }
  }

  @Test func fieldsParse() throws {
    #expect(try ContactQuery.parse("").fields == nil)
    #expect(try ContactQuery.parse("fields=*").fields == nil)
    #expect(try ContactQuery.parse("fields=name,phoneNumber,name").fields == [.name, .phoneNumber])
    #expect(try ContactQuery.parse("fields=id").fields == [.id])
    let every = Self.attributes.reversed().joined(separator: ",")
    #expect(try ContactQuery.parse("fields=\(every)").fields == nil)
    #expect(try ContactQuery.parseFields("fields=userName") == [.userName])
    #expect(try ContactQuery.parseFields("") == nil)
    #expect(throws: QueryError.self) { try ContactQuery.parseFields("type=User") }
    #expect(throws: QueryError.self) { try ContactQuery.parseFields("fields=name&fields=id") }
    #expect(throws: QueryError.self) { try ContactQuery.parseFields("fields=na%00me") }
  }

  @Test func projectionKeepsTheIDAndOmitsAbsentValues() throws {
    let user = Contact(id: "u1", type: .user, name: "Ann", phoneNumber: "1", userName: "ann", lastName: "Lee")
    #expect(
      String(decoding: user.json(fields: [.lastName, .firstName]), as: UTF8.self) == #"{"id":"u1","lastName":"Lee"}"#)
    #expect(String(decoding: user.json(fields: [.id]), as: UTF8.self) == #"{"id":"u1"}"#)
    #expect(user.json(fields: nil) == user.json)
    #expect(user.json(fields: Set(ContactAttribute.allCases)) == user.json)
    // A queue that holds a userName (not a user's attribute) never shows it.
    let queue = Contact(id: "q1", type: .queue, name: "Sales", userName: "stray")
    #expect(String(decoding: queue.json(fields: [.userName, .name]), as: UTF8.self) == #"{"id":"q1","name":"Sales"}"#)
  }
}
