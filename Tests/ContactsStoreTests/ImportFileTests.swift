import ContactsCore
import Foundation
import Testing

@testable import ContactsStore

/// The import reader on its own: CSV quoting and line endings, JSON shapes, and errors that
/// name the line and field an admin has to fix.
struct ImportFileTests {
  func parse(_ text: String, type: ContactType = .user, _ format: ImportFile.Format = .csv) throws -> [Contact] {
    try ImportFile.parse(Array(text.utf8), type: type, format: format)
  }

  /// The message of the error `text` is refused with (`nil` when it is accepted).
  func refusal(_ text: String, type: ContactType = .user, _ format: ImportFile.Format = .csv) -> String? {
    do {
      _ = try parse(text, type: type, format)
      return nil
    } catch {
      return "\(error)"
    }
  }

  // MARK: CSV

  @Test func quotedFieldsHoldCommasAndDoubledQuotes() throws {
    let contacts = try parse(
      #"""
      id,name,firstName,lastName
      u1,"Lee, Ann","Ann ""The Boss""",Lee
      "u2",Bo,,"Bo, Jr."
      """#)
    #expect(contacts.map(\.id) == ["u1", "u2"])
    #expect(contacts[0].name == "Lee, Ann")
    #expect(contacts[0].firstName == #"Ann "The Boss""#)
    #expect(contacts[1].firstName == nil, "an empty field is an absent field")
    #expect(contacts[1].lastName == "Bo, Jr.")
  }

  @Test func aByteOrderMarkAndCRLFLineEndingsAreAccepted() throws {
    let contacts = try parse("\u{FEFF}id,name,phoneNumber\r\nu1,Ann,555 1\r\nu2,\"Bo\",555 2\r\n")
    #expect(contacts.map(\.id) == ["u1", "u2"])
    #expect(contacts.map(\.name) == ["Ann", "Bo"])
    #expect(contacts.map(\.phoneNumber) == ["555 1", "555 2"])
  }

  @Test func blankLinesAndAMissingFinalNewlineAreFine() throws {
    let contacts = try parse("id,name\nu1,Ann\n\nu2,Bo")
    #expect(contacts.map(\.id) == ["u1", "u2"])
  }

  /// A quoted line break continues the record; later records keep their real line numbers.
  @Test func aLineBreakInsideQuotesStaysInTheFieldAndLinesAreCountedPastIt() throws {
    let records = try CSV.records("id,name\nu1,\"two\nlines\"\nu2,Bo\n")
    #expect(records.map(\.line) == [1, 2, 4])
    #expect(records[1].fields == ["u1", "two\nlines"])
    // A name may not hold a line break, and the error points at the record's first line.
    let error = try #require(refusal("id,name\nu1,\"two\nlines\"\nu2,Bo\n"))
    #expect(error.contains("line 2, field name"), "\(error)")
  }

  @Test(arguments: [
    ("id,name,phoneNumber\nu1,Ann\n", "line 2: has 2 fields, the header has 3"),
    ("id,name\nu1,Ann\nu2,Bo,555\n", "line 3: has 3 fields, the header has 2"),
    ("id,name\nu1,Ann\nu1,Bo\n", "line 3, field id: 'u1' is already used on line 2"),
    ("id,nom\nu1,Ann\n", "line 1, field nom: not a contact field"),
    ("id,name,\nu1,Ann,\n", "line 1, field #3: not a contact field"),
    ("id,name,id\nu1,Ann,u2\n", "line 1, field id: appears twice"),
    ("", "line 1: the file is empty"),
    ("id,name\nu1,An\"n\n", "line 2: a quote inside an unquoted field"),
    ("id,name\nu1,Ann\nu2,\"Bo\n", "line 3: a quoted field is not closed"),
    ("id,name\nu1,\n", "line 2, field name: is required"),
    ("name\nAnn\n", "line 2, field id: is required"),
    ("id,name\nu 1,Ann\n", "line 2, field id: must be 1 to 128 characters"),
    ("id,name\n0123456789abcdef0123456789abcdef,Ann\n", "line 2, field id: 32 lowercase hex digits are reserved"),
    ("id,name,type\nu1,Ann,Queue\n", "line 2, field type: must be User in a User import"),
  ])
  func csvErrorsNameTheLineAndField(text: String, expected: String) throws {
    let error = try #require(refusal(text), "accepted \(text.debugDescription)")
    #expect(error.contains(expected), "\(error)")
  }

  @Test func csvIsForUsersAndUTF8Only() throws {
    #expect(refusal("id,name\nq1,Sales\n", type: .queue)?.contains("CSV import is for users") == true)
    let latin1: [UInt8] = Array("id,name\nu1,".utf8) + [0xE9, 0x0A]
    #expect(throws: StoreError.self) { try ImportFile.parse(latin1, type: .user, format: .csv) }
  }

  // MARK: JSON

  @Test func jsonIsAnArrayOrAnObjectHoldingOne() throws {
    let array = try parse(#"[{"id":"u1","name":"Ann"}]"#, .json)
    let users = try parse(#"{"users":[{"id":"u1","name":"Ann"}]}"#, .json)
    let contacts = try parse(#"{"contacts":[{"id":"u1","name":"Ann"}]}"#, .json)
    #expect(array == users && users == contacts)
    #expect(try parse(#"{"queues":[{"id":"q1","name":"Sales"}]}"#, type: .queue, .json).map(\.type) == [.queue])
    #expect(refusal(#"{"queues":[]}"#, .json)?.contains("line 1, field queues: not expected in a users import") == true)
    #expect(refusal(#""users""#, .json)?.contains("line 1: expected an array of contacts") == true)
  }

  /// The top-level object's own members are named by line and key too: an extra one, one twice,
  /// one that holds no array.
  @Test func theTopLevelObjectsMembersAreNamedByLineAndKey() throws {
    let extra = "{\n\"queues\":\n[{\"id\":\"q1\",\"name\":\"A\"}],\n\"extra\":true}"
    #expect(
      refusal(extra, type: .queue, .json)?.contains("line 4, field extra: not expected in a queues import") == true)
    let twice = "{\"queues\":[\n{\"id\":\"q1\",\"name\":\"A\"}],\"queues\":[]}"
    #expect(refusal(twice, type: .queue, .json)?.contains("line 2, field queues: appears more than once") == true)
    let notArray = "{\n  \"queues\": 5\n}"
    #expect(refusal(notArray, type: .queue, .json)?.contains("line 2, field queues: expected an array") == true)
    // A key inside a record is not a member of the top-level object.
    let nested = "{\"queues\":[{\"id\":\"q1\",\"name\":\"A\",\"extra\":1}],\n\"x\":2}"
    #expect(refusal(nested, type: .queue, .json)?.contains("line 2, field x: not expected") == true)
  }

  /// A byte that is not UTF-8 is found where it is: its line, its field, its column.
  @Test func aByteThatIsNotUTF8IsReportedWhereItIs() throws {
    let csv: [UInt8] = Array("id,name,userName\nu1,A,a\nu2,\"B, C\"".utf8) + [0xFF] + Array(",b\n".utf8)
    var message = ""
    do { _ = try ImportFile.parse(csv, type: .user, format: .csv) } catch { message = "\(error)" }
    #expect(message.contains("line 3, field name: not UTF-8 (the byte 0xFF at column 10)"), "\(message)")
  }

  @Test func jsonErrorsNameTheLineOfTheElementAndTheField() throws {
    let text = """
      [
        {"id": "u1", "name": "Ann"},
        {"id": "u2", "name": "Bo", "nickname": "B"},
        {"id": "u1", "name": "Cy"}
      ]
      """
    #expect(refusal(text, .json)?.contains("line 3, field nickname: is not a contact field") == true)
    let duplicate = text.replacingOccurrences(of: #", "nickname": "B""#, with: "")
    #expect(refusal(duplicate, .json)?.contains("line 4, field id: 'u1' is already used on line 2") == true)
    #expect(refusal("[\n  {\"id\": \"u1\", \"name\": 7}\n]", .json)?.contains("line 2, field name") == true)
    #expect(refusal("[\n  {\"id\": \"u1\",\n  \"name\": \"Ann\"\n", .json)?.contains("line 4") == true)
    #expect(refusal(#"[{"id": "u1", "name": "Ann"}, 3]"#, .json)?.contains("line 1, field (record)") == true)
  }

  /// JSON text may not start with a byte order mark (RFC 8259); it is refused, not misread.
  @Test func aByteOrderMarkInJSONIsReportedOnLineOne() throws {
    let error = try #require(refusal("\u{FEFF}[{\"id\":\"u1\",\"name\":\"Ann\"}]", .json))
    #expect(error.contains("line 1"), "\(error)")
  }
}
