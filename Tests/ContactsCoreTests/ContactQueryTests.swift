import ContactsCore
import Testing

struct ContactQueryTests {
  static let contacts = [
    Contact(id: "q1", type: .queue, name: "Sales", phoneNumber: "+1 800 555 0100"),
    Contact(id: "q2", type: .queue, name: "support", phoneNumber: "+1 800 555 0101"),
    Contact(
      id: "u1", type: .user, name: "Joe Johnson", phoneNumber: "(555) 123 4567", userName: "joej", firstName: "Joe",
      lastName: "Johnson", employeeId: "E42"),
    Contact(id: "u2", type: .user, name: "Ana Lima", userName: "alima", firstName: "Ana", lastName: "Lima"),
    Contact(id: "c1", type: .custom, name: "Front Desk", phoneNumber: "555-123-4567"),
    Contact(id: "c2", type: .custom, name: "front desk", phoneNumber: "555 999"),
  ]
  static let state = DirectoryState(contacts: contacts, generation: 1)

  func ids(_ query: String) throws -> [String] {
    let parsed = try ContactQuery.parse(query)
    return Self.state.entries.filter(parsed.matches).map(\.contact.id)
  }

  @Test func listingIsOrderedByNameCaseInsensitivelyThenID() {
    #expect(Self.state.entries.map(\.contact.id) == ["u2", "c1", "c2", "u1", "q1", "q2"])
  }

  @Test(arguments: [
    ("type=Queue", ["q1", "q2"]),
    ("type=queue&type=USER", ["u2", "u1", "q1", "q2"]),
    ("type=custom", ["c1", "c2"]),
    ("name=FRONT%20DESK", ["c1", "c2"]),
    ("name=front+desk&type=Custom", ["c1", "c2"]),
    ("firstName=Joe&lastName=Johnson&userName=joej", ["u1"]),
    ("firstName=joe&lastName=Lima", []),
    ("phoneNumber=555-123-4567", ["c1", "u1"]),
    ("phoneNumber=5551234567", ["c1", "u1"]),
    ("phoneNumber=abc", []),
    ("employeeId=e42", ["u1"]),
    ("id=Q1", ["q1"]),
    ("userName=joej&type=Queue", []),
    ("q=desk", ["c1", "c2"]),
    ("q=JOHN", ["u1"]),
    ("q=123-45", ["c1", "u1"]),
    ("q=0100", ["q1"]),
    ("q=lim", ["u2"]),
    ("q=", ["u2", "c1", "c2", "u1", "q1", "q2"]),
    ("", ["u2", "c1", "c2", "u1", "q1", "q2"]),
  ])
  func filtersMatchCaseInsensitivelyAndPhoneNumbersByDigits(query: String, expected: [String]) throws {
    #expect(
      try ids(query)
        == expected.sorted { lhs, rhs in
          let order = ["u2", "c1", "c2", "u1", "q1", "q2"]
          return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
        })
  }

  /// The search text joins fields with a byte no UTF-8 query holds: `q` never matches on the
  /// separator, nor across two fields. (With NUL as the separator, `q=%00` matched every user.)
  @Test(arguments: [[0], Array("johnson\u{0}joej".utf8), Array("joej\u{0}joe".utf8)])
  func searchNeverMatchesOnOrAcrossTheFieldSeparator(needle: [UInt8]) {
    var query = ContactQuery()
    query.text = needle
    #expect(Self.state.entries.filter(query.matches).isEmpty)
  }

  /// However `q=%00` is answered (refused, or searched), it does not list every user.
  @Test func aNULQueryDoesNotMatchEveryUser() {
    // Refusing the query is a correct answer too: only a parsed one has anything to check.
    if let query = try? ContactQuery.parse("q=%00") {
      #expect(Self.state.entries.filter(query.matches).isEmpty)
    }
  }

  /// What the separator relies on: a parsed `q` is UTF-8, so never holds the byte 0xFF.
  @Test(arguments: ["q=%FF", "q=a%FFb", "q=%C3%BF", "q=%EF%BF%BF"])
  func aParsedQueryNeverHoldsTheSeparatorByte(raw: String) {
    // Refusing the query is a correct answer too: only a parsed one has anything to check.
    if let query = try? ContactQuery.parse(raw) {
      #expect(query.text?.contains(0xFF) != true)
      #expect(Self.state.entries.filter(query.matches).isEmpty)
    }
  }

  @Test(arguments: [
    ("firstname=Joe", "firstname"),
    ("color=red", "color"),
    ("type=Robot", "type"),
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=ten", "limit"),
    ("offset=-1", "offset"),
    ("q=a&q=b", "q"),
    ("limit=1&limit=2", "limit"),
    ("offset=1&offset=1", "offset"),
    ("name=%zz", "name"),
  ])
  func invalidParametersAreNamed(query: String, parameter: String) {
    do {
      _ = try ContactQuery.parse(query)
      Issue.record("\(query) was accepted")
    } catch {
      #expect(error.parameter == parameter)
    }
  }

  @Test func unknownParameterAndTypeListWhatIsAllowed() {
    do {
      _ = try ContactQuery.parse("Type=User")
    } catch {
      #expect(error.allowed.contains("type"))
      #expect(error.message.contains("phoneNumber"))
    }
    do {
      _ = try ContactQuery.parse("type=Robot")
    } catch {
      #expect(error.allowed == ["Custom", "Queue", "User"])
    }
  }

  @Test func pagingLinksToTheNextPageKeepingTheFilters() throws {
    let query = try ContactQuery.parse("type=User&limit=1&offset=0&q=a%20b")
    #expect(query.nextPageQuery(total: 2) == "type=User&limit=1&q=a%20b&offset=1")
    #expect(query.nextPageQuery(total: 1) == nil)
    #expect(try ContactQuery.parse("type=User").nextPageQuery(total: 100) == nil)
  }
}
