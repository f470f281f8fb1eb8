import ContactsCore
import Testing

@testable import ContactsStore

/// The journal's fast reader (`JournalLineReader`) takes only lines in the writer's own shape and
/// leaves every other line to the general parser: whatever a line holds, the record read is the
/// one the general parser reads, or none when that one reads none.
struct JournalLineReaderTests {
  static let answer = IdempotentAnswer(
    user: "admin", key: "k\u{e9}y \"1\"", requestHash: "abc", status: 201,
    body: Array(#"{"id":"c1","name":"A \"B\"","note":"é\n"}"#.utf8), createdAt: 1_700_000_000)

  static let records: [JournalRecord] = [
    JournalRecord(
      sequence: 7, timestamp: "2026-12-01T12:00:00.000Z", user: "admin",
      operation: .change(.create(Contact(id: "c1", type: .custom, name: "Ann", phoneNumber: "555 1")))),
    JournalRecord(
      sequence: 8, timestamp: "t", user: "ädmin \\ \"x\"",
      operation: .change(.update(Contact(id: "c1", type: .custom, name: "Zoë \"Z\"\t日本 😀\u{2028}!")))),
    JournalRecord(sequence: 9, timestamp: "t", user: "admin", operation: .change(.delete(id: "c1"))),
    JournalRecord(
      sequence: 12, firstSequence: 10, timestamp: "t", user: "admin",
      operation: .changes([
        .create(Contact(id: "c2", type: .custom, name: "Two", phoneNumber: "2")), .delete(id: "c1"),
        .update(Contact(id: "c2", type: .custom, name: "Two b")),
      ]), idempotentAnswer: answer),
    JournalRecord(
      sequence: 40, firstSequence: 13, timestamp: "t", user: "import",
      operation: .directoryImport(type: .user, file: "users-40.json", count: 28)),
    JournalRecord(
      sequence: 41, timestamp: "t", user: "admin",
      operation: .change(
        .create(
          Contact(
            id: "u9", type: .user, name: "User Nine", phoneNumber: "9", userName: "u9", firstName: "User",
            lastName: "Nine", employeeId: "E9"))), idempotentAnswer: answer),
    JournalRecord(sequence: UInt64.max, timestamp: "", user: "", operation: .change(.delete(id: ""))),
  ]

  /// The fast reading of `line`, checked against the general parser's.
  @discardableResult
  func checked(_ line: [UInt8], _ note: @autoclosure () -> String = "") -> JournalRecord? {
    let fast = JournalLineReader.record(line[...])
    let general = JournalRecord(parsing: line[...])
    if let fast {
      #expect(fast == general, "\(String(decoding: line, as: UTF8.self).debugDescription) \(note())")
    }
    #expect(JournalRecord(line: line[...]) == general)
    return fast
  }

  @Test func theWritersLinesAreReadFastAndAlike() throws {
    for record in Self.records {
      let line = Array(record.line.dropLast())  // without its \n
      let fast = checked(line)
      #expect(fast == record, "\(String(decoding: line, as: UTF8.self))")
    }
  }

  /// Lines in another shape (blanks, members in another order, extra members, numbers or types
  /// spelled otherwise) go to the general parser, which decides.
  @Test(arguments: [
    #"{"seq": 7,"at":"t","by":"a","op":"delete","id":"c1"}"#,
    #"{"at":"t","seq":7,"by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","id":"c1","contact":{"id":"c1","name":"N","type":"Custom"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"id":"c1","name":" N ","type":"custom"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"id":"c1","name":"N","type":"Custom","phoneNumber":""}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"id":"u","name":"","type":"User","firstName":"F"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"id":"c","name":"N","type":"Custom","userName":"x"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"id":"c","name":"N","name":"M","type":"Custom"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"\u0069d":"c","name":"N","type":"Custom"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"create","contact":{"id":"c","name":"N\u00e9","type":"Custom"}}"#,
    #"{"seq":07,"at":"t","by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":7.0,"at":"t","by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":-7,"at":"t","by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":18446744073709551616,"at":"t","by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":7,"first":8,"at":"t","by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":8,"first":7,"at":"t","by":"a","op":"batch","changes":[{"op":"delete","id":"c1"}]}"#,
    #"{"seq":7,"at":"t","by":"a","op":"batch","changes":[]}"#,
    #"{"seq":7,"at":"t","by":"a","op":"import","type":"Custom","file":"f","count":1}"#,
    #"{"seq":7,"at":"t","by":"a","op":"import","type":"User","file":"f","count":9223372036854775808}"#,
    #"{"seq":7,"at":"t","by":"a","op":"rename","id":"c1"}"#,
    #"{"seq":7,"at":"t","by":"a","op":"delete","id":"c1"} "#,
    #"{"seq":7,"at":"t","by":"a","op":"delete","id":"c1"}}"#,
    #"{"seq":7,"at":"t","by":"a","op":"delete","id":"c1","idem":{"user":"a","key":"k","hash":"h","status":201,"t":1,"body":"{}"}}"#,
    #"{"seq":7,"at":"t\q","by":"a","op":"delete","id":"c1"}"#,
    #"{"seq":7,"at":"t\u00","by":"a","op":"delete","id":"c1"}"#,
    "{\"seq\":7,\"at\":\"t\u{01}\",\"by\":\"a\",\"op\":\"delete\",\"id\":\"c1\"}",
    "{\"seq\":7,\"at\":\"t\",\"by\":\"a\",\"op\":\"delete\",\"id\":\"c1\\",
  ])
  func otherShapesAreLeftToTheGeneralParser(line: String) {
    checked(Array(line.utf8))
  }

  @Test func invalidUTF8IsLeftToTheGeneralParser() {
    for bytes: [UInt8] in [[0xC3], [0xFF], [0xED, 0xA0, 0x80], [0xE6, 0x97]] {
      let line = Array(#"{"seq":7,"at":"t","by":""#.utf8) + bytes + Array(#"","op":"delete","id":"c1"}"#.utf8)
      #expect(checked(line) == nil)
      #expect(JournalRecord(line: line[...]) == nil)
    }
  }

  /// Every line cut off anywhere, and every byte of it changed, reads as the general parser
  /// reads it.
  @Test func damagedLinesReadAsTheGeneralParserReadsThem() {
    let replacements: [UInt8] = [0x22, 0x5C, 0x2C, 0x7B, 0x7D, 0x3A, 0x20, 0x0A, 0x00, 0x30, 0x39, 0x61, 0xC3, 0xFF]
    for record in Self.records {
      let line = Array(record.line.dropLast())
      for length in 0..<line.count { checked(Array(line[..<length]), "cut at \(length)") }
      for position in line.indices {
        for replacement in replacements where replacement != line[position] {
          var damaged = line
          damaged[position] = replacement
          checked(damaged, "byte \(position) = \(replacement)")
        }
        var shorter = line
        shorter.remove(at: position)
        checked(shorter, "byte \(position) removed")
      }
    }
  }
}
