import ContactsCore
import Testing

@testable import ContactsStore

/// The store's own fast reader on strings with escapes, which it hands to the full parser:
/// every JSON escape decodes, and a bad one is damage with its file and offset, not a crash.
struct StoredContactsReaderTests {
  func users(_ json: String) throws(StoreError) -> [Contact] {
    try StoredContactsReader.reading(Array(json.utf8), file: "users-1.json") { (reader) throws(StoreError) in
      try reader.directoryFile(type: .user, version: 1).map(\.contact)
    }
  }

  func name(_ escaped: String) throws -> String? {
    try users(#"{"type":"User","contacts":[{"id":"u1","name":"\#(escaped)","phoneNumber":"1"}]}"#).first?.name
  }

  @Test(arguments: [
    (#"A \"quoted\" name"#, #"A "quoted" name"#),
    (#"back\\slash"#, #"back\slash"#),
    (#"ends with \\"#, #"ends with \"#),
    (#"\\\"\\"#, #"\"\"#),
    (#"a\/b"#, "a/b"),
    (#"caf\u00e9 \u00C9"#, "café É"),
    (#"\u0041\u0042"#, "AB"),
    (#"smile \ud83d\ude00!"#, "smile 😀!"),
    (#"\uD834\uDD1E clef"#, "𝄞 clef"),
    (#"tab\there"#, "tab\there"),
    (#"Zoë \"Z\" Ünal"#, #"Zoë "Z" Ünal"#),
  ])
  func escapedStringsDecode(escaped: String, decoded: String) throws {
    #expect(try name(escaped) == decoded)
  }

  /// After an escaped value the reader goes on at the right byte: the next fields and the next
  /// contact are read, and the contact keeps the stored bytes as its JSON.
  @Test func readingContinuesAfterAnEscapedValue() throws {
    let object = #"{"id":"u1","name":"A \"B\" \\ C","phoneNumber":"555\/1","type":"User"}"#
    let entries = try StoredContactsReader.reading(
      Array(#"{"type":"User","contacts":[\#(object),{"id":"u2","name":"\u00e9"}]}"#.utf8), file: "users-1.json"
    ) { (reader) throws(StoreError) in try reader.directoryFile(type: .user, version: 7) }
    #expect(entries.map(\.contact.id) == ["u1", "u2"])
    #expect(entries[0].contact.name == #"A "B" \ C"#)
    #expect(entries[0].contact.phoneNumber == "555/1")
    #expect(entries[0].contact.version == 7)
    #expect(String(decoding: entries[0].json, as: UTF8.self) == object)
    #expect(entries[1].contact.name == "é")
  }

  @Test func escapesInTheSnapshotDecodeToo() throws {
    let snapshot = #"""
      {"format":1,"generation":3,"files":{"User":"users-\u0032.json"},
       "custom":[{"v":3,"c":{"id":"c1","name":"O\u2019Brien \"OB\"","type":"Custom","phoneNumber":"1"}}]}
      """#
    let (generation, files, custom, changes, _) = try StoredContactsReader.reading(
      Array(snapshot.utf8), file: "snapshot.json"
    ) { (reader) throws(StoreError) in try reader.snapshot() }
    #expect(changes == nil)
    #expect(generation == 3)
    #expect(files == [.user: "users-2.json"])
    #expect(custom.map(\.contact.name) == [#"O’Brien "OB""#])
    #expect(custom.map(\.contact.version) == [3])
  }

  @Test(arguments: [
    #"bad \x escape"#,
    #"\u12"#,
    #"\u12G4"#,
    #"\ud83d alone"#,
    #"\ud83d\u0041"#,
    #"\ude00 low first"#,
    "raw\u{01}control\\n",
  ])
  func invalidEscapesAreReportedAsDamage(escaped: String) {
    do {
      let decoded = try name(escaped)
      Issue.record("read \(escaped.debugDescription) as \(decoded.debugDescription)")
    } catch let error as StoreError {
      guard case .damaged(let file, _, let reason) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(file == "users-1.json")
      #expect(reason.contains("an unreadable string at byte"), "\(reason)")
    } catch {
      Issue.record("\(error)")
    }
  }

  /// A file cut off inside an escape, or right after a backslash, is damage too.
  @Test(arguments: [#"{"type":"User","contacts":[{"id":"u1","name":"ab\"#, #"{"type":"User","contacts":[{"id":"u\"#])
  func aFileCutOffInAnEscapeIsDamage(text: String) {
    #expect(throws: StoreError.self) { try users(text) }
  }

  /// A directory file may give a contact a version of its own (`{"v":…,"c":…}`, written by
  /// `import dump`); plain contacts beside it, and files of before, are at the file's version.
  @Test func aContactWithItsOwnVersionBesidePlainOnes() throws {
    let json = """
      {"type":"User","contacts":[{"id":"u1","name":"One","type":"User"},
      { "v" : 7, "c" : {"id":"u2","name":"Two","type":"User"}},{"v":3,"c":{"id":"u3","name":"Three","type":"User"}}]}
      """
    let read = try StoredContactsReader.reading(Array(json.utf8), file: "users-9.json") {
      (reader) throws(StoreError) in try reader.directoryFile(type: .user, version: 9)
    }
    #expect(read.map(\.contact.version) == [9, 7, 3])
    #expect(read.map { String(decoding: $0.json, as: UTF8.self) }[1] == #"{"id":"u2","name":"Two","type":"User"}"#)
    let contacts = read.map(\.contact)
    #expect(
      DirectoryFile.encode(contacts, type: .user, generation: 9)
        == Array(
          """
          {"type":"User","contacts":[{"id":"u1","name":"One","type":"User"},
          {"v":7,"c":{"id":"u2","name":"Two","type":"User"}},
          {"v":3,"c":{"id":"u3","name":"Three","type":"User"}}]}

          """.utf8))
    // An import writes plain contacts, as before.
    #expect(!String(decoding: DirectoryFile.encode(contacts, type: .user), as: UTF8.self).contains(#""v""#))
    #expect(throws: StoreError.self) {
      try StoredContactsReader.reading(
        Array(#"{"type":"User","contacts":[{"c":{"id":"u","name":"U"},"v":1}]}"#.utf8), file: "f"
      ) { (reader) throws(StoreError) in try reader.directoryFile(type: .user, version: 1) }
    }
  }

  /// A snapshot's change-log entries are checked as they are read, but their contacts are read
  /// only when asked for (`StoredChange.entry`): as the reader reads any contact, or shared with
  /// the current one when that has the same version and bytes.
  static func changes(_ entries: String) throws(StoreError) -> [StoredChange] {
    let snapshot =
      #"{"format":2,"generation":9,"files":{},"custom":[],"changes":{"horizon":5,"entries":["#
      + entries + "]}}"
    return try StoredContactsReader.reading(Array(snapshot.utf8), file: "snapshot.json") {
      (reader) throws(StoreError) in try reader.snapshot().changes?.entries ?? []
    }
  }

  @Test(arguments: [
    #"{"s":6,"c":{"id":"c1","name":"A","colour":"red"}}"#,
    #"{"s":6,"c":{"id":"c1","phoneNumber":"1"}}"#,
    #"{"s":6,"c":{"name":"A"}}"#,
    #"{"s":6,"c":{"id":"c1","name":"A","phoneNumber":"bad \x escape"}}"#,
    #"{"s":6,"c":{"id":"c1","name":"A","phoneNumber":7}}"#,
    #"{"s":6,"c":{"id":"c1","name":"A""#,
    #"{"s":6,"c":{"id":"c1","name":"A"},"x":1}"#,
  ])
  func aDamagedChangeIsFoundWhenTheSnapshotIsRead(entry: String) {
    #expect(throws: StoreError.self) { try Self.changes(entry) }
  }

  @Test func aChangesContactIsReadWhenAskedForOrShared() throws {
    let object = #"{"id":"c1","name":"O\u2019Brien \"OB\"","type":"Custom","phoneNumber":"555\/1"}"#
    let changes = try Self.changes(#"{"s":6,"c":\#(object)},{"s":7,"i":"c2"}"#)
    #expect(changes.map(\.id) == ["c1", "c2"])
    let read = try #require(try changes[0].entry { _ in nil }.contact)
    #expect(read.contact.name == #"O’Brien "OB""#)
    #expect(read.contact.phoneNumber == "555/1")
    #expect(read.contact.version == 6)
    #expect(String(decoding: read.json, as: UTF8.self) == object)
    #expect(try changes[1].entry { _ in nil }.contact == nil)
    // The current contact, at the same version with the same bytes, is shared; at another
    // version it is not.
    #expect(try changes[0].entry { _ in read }.contact === read)
    let older = IndexedContact(
      Contact(id: "c1", type: .custom, name: #"O’Brien "OB""#, phoneNumber: "555/1", version: 5), json: read.json)
    let again = try #require(try changes[0].entry { _ in older }.contact)
    #expect(again !== older && again.contact == read.contact)
  }
}

/// A snapshot's custom contacts, `{"v":V,"c":{…}}`, are read by their bytes when they are as the
/// store writes them; any other shape is read the general way, and damage is judged as before.
struct SnapshotEntryTests {
  static func custom(_ entries: String) throws(StoreError) -> [IndexedContact] {
    let snapshot = #"{"format":2,"generation":9,"files":{},"custom":["# + entries + "]}"
    return try StoredContactsReader.reading(Array(snapshot.utf8), file: "snapshot.json") {
      (reader) throws(StoreError) in try reader.snapshot().custom
    }
  }

  static let object = #"{"id":"c1","name":"Desk","type":"Custom","phoneNumber":"1"}"#

  @Test(arguments: [
    #"{"v":3,"c":\#(object)}"#, #"{ "v" : 3 , "c" : \#(object) }"#, "{\"v\":3,\n\"c\":\(object)}",
  ])
  func everyShapeOfAnEntryReadsAlike(entry: String) throws {
    let read = try Self.custom(entry + "," + #"{"v":4,"c":{"id":"c2","name":"Two","type":"Custom"}}"#)
    #expect(read.map(\.id) == ["c1", "c2"])
    #expect(read.map(\.version) == [3, 4])
    #expect(String(decoding: read[0].json, as: UTF8.self) == Self.object)
    #expect(read[0].contact.phoneNumber == "1")
  }

  /// The largest version reads as itself, on the bytes' path and the general one; one more is
  /// damage (above), not a version wrapped around to 0.
  @Test(arguments: [#"{"v":18446744073709551615,"c":\#(object)}"#, #"{ "v":18446744073709551615,"c":\#(object)}"#])
  func theLargestVersionReadsAsItself(entry: String) throws {
    #expect(try Self.custom(entry).map(\.version) == [UInt64.max])
  }

  @Test(arguments: [
    (#"{"c":\#(object),"v":3}"#, "a contact before its version"),
    (#"{"v":3,"c":{"id":"c1","type":"Custom"}}"#, "a contact without id or name"),
    (#"{"v":3,"c":{"id":"c1","name":"U","type":"User"}}"#, "incomplete entry"),
    (#"{"v":3,"c":\#(object),"x":1}"#, "unknown key x"),
    (#"{"v":3}"#, "incomplete entry"),
    (#"{"v":-3,"c":\#(object)}"#, "expected a number"),
    (#"{"v":18446744073709551616,"c":\#(object)}"#, "a number out of range"),
    (#"{"v":99999999999999999999,"c":\#(object)}"#, "a number out of range"),
    (#"{"v":3,"c":\#(object)"#, "expected ',' or '}'"),
  ])
  func aDamagedEntryIsReportedAsBefore(entry: String, reason: String) {
    do {
      let read = try Self.custom(entry)
      Issue.record("read \(entry) as \(read.map(\.id))")
    } catch {
      guard case .damaged(let file, _, let found) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(file == "snapshot.json")
      #expect(found.hasPrefix(reason + " at byte"), "\(found)")
    }
  }
}
