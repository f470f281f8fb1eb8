import ContactsCore
import Testing

@testable import ContactsStore

/// A large snapshot or directory file has its contacts read on two threads, the second from a
/// line start near the middle (`StoredContactsReader.splittableArray`). Whatever the file holds
/// and wherever the second reader starts, the result must be exactly the one-thread result: the
/// same contacts in the same order, or the same damage at the same offset.
struct SplitReadingTests {
  /// What a reading gave, comparable: every contact with its version and JSON, or the error.
  func outcome(_ read: () throws(StoreError) -> [IndexedContact]) -> String {
    do {
      return try read().map { "\($0.contact.id) v\($0.contact.version) \(String(decoding: $0.json, as: UTF8.self))" }
        .joined(separator: "\n")
    } catch {
      return "error: \(error)"
    }
  }

  func snapshotOutcome(_ bytes: [UInt8], splitHint: Int?) -> String {
    var rest = ""
    let custom = outcome { () throws(StoreError) in
      let read = try StoredContactsReader.reading(bytes, file: StoreLayout.snapshotName, splitHint: splitHint) {
        (reader) throws(StoreError) in try reader.snapshot()
      }
      rest =
        "generation \(read.generation) files \(read.files.sorted { $0.key.rawValue < $1.key.rawValue })"
        + " changes \(read.changes.map { "\($0.horizon) \($0.entries.map { "\($0.sequence) \($0.id)" })" } ?? "-")"
        + " answers \(read.answers.map(\.key))"
      return read.custom
    }
    return custom + "\n" + rest
  }

  func directoryOutcome(_ bytes: [UInt8], splitHint: Int?) -> String {
    outcome { () throws(StoreError) in
      try StoredContactsReader.reading(bytes, file: "users-5.json", splitHint: splitHint) {
        (reader) throws(StoreError) in try reader.directoryFile(type: .user, version: 5)
      }
    }
  }

  /// Names with escapes, quotes, non-ASCII and a line separator's escape, as the store writes them.
  static let names = [
    "Plain", "Zoë \"Z\" Ünal", "back\\slash", "日本語の名前", "smile 😀", "O’Brien", "tab\tname", "a\u{2028}b", "X",
  ]

  static func snapshotBytes(contacts count: Int) -> [UInt8] {
    let contacts = (0..<count).map { index in
      Contact(
        id: "c\(index)", type: .custom, name: names[index % names.count] + " \(index)", phoneNumber: "555 \(index)",
        version: UInt64(index + 1))
    }
    var state = DirectoryState(contacts: contacts, generation: UInt64(count))
    for contact in contacts.prefix(2) { state.upsert(contact, generation: state.generation + 1) }
    state.remove(id: "gone", generation: state.generation + 1)
    return Snapshot.encode(state, directoryFiles: [.user: "users-3.json"])
  }

  @Test(arguments: [0, 1, 2, 9])
  func everySplitOfAGoodSnapshotReadsAsOneThreadDoes(contacts: Int) {
    let bytes = Self.snapshotBytes(contacts: contacts)
    let expected = snapshotOutcome(bytes, splitHint: nil)
    #expect(!expected.contains("error"), "\(expected)")
    #expect(expected.split(separator: "\n", omittingEmptySubsequences: false).count == max(contacts, 1) + 1)
    for hint in 0...bytes.count {
      #expect(snapshotOutcome(bytes, splitHint: hint) == expected, "split hint \(hint)")
    }
  }

  /// A snapshot cut off anywhere (a contact split across the second reader's start included)
  /// is reported as the one-thread reader reports it, wherever the second reader starts.
  @Test func everyCutOffSnapshotIsTheSameDamage() {
    let bytes = Self.snapshotBytes(contacts: 5)
    for length in 0..<bytes.count {
      let cut = Array(bytes[..<length])
      let expected = snapshotOutcome(cut, splitHint: nil)
      // Only the final line end may go: what precedes it is whole.
      #expect(
        expected.hasPrefix("error: data directory damaged") || length == bytes.count - 1,
        "cut at \(length): \(expected)")
      for hint in stride(from: 0, through: length, by: 7) + [length / 2, length - 1] {
        #expect(snapshotOutcome(cut, splitHint: hint) == expected, "cut at \(length), split hint \(hint)")
      }
    }
  }

  /// A byte changed anywhere (a line end in a name, a stray bracket or quote) reads, or fails,
  /// exactly as with one thread.
  @Test(arguments: ["\n", "}", "]", "\"", ",", "{", "x"])
  func everyDamagedByteIsTheSameOutcome(replacement: String) {
    let bytes = Self.snapshotBytes(contacts: 5)
    for position in 0..<bytes.count {
      var damaged = bytes
      damaged[position] = Array(replacement.utf8)[0]
      let expected = snapshotOutcome(damaged, splitHint: nil)
      for hint in [0, position - 1, position, position + 1, bytes.count / 2] {
        #expect(snapshotOutcome(damaged, splitHint: hint) == expected, "byte \(position), split hint \(hint)")
      }
    }
  }

  @Test func directoryFilesSplitToo() {
    let json = """
      {"type":"User","contacts":[{"id":"u1","name":"One","type":"User"},
      { "v" : 7, "c" : {"id":"u2","name":"Two \\"2\\"","type":"User"}},
      {"id":"u3","name":"Trois é","type":"User","userName":"t"},
      {"v":3,"c":{"id":"u4","name":"Four","type":"User"}}
      ,{"id":"q1","name":"A queue","type":"Queue"}]}
      """
    let bytes = Array(json.utf8)
    let expected = directoryOutcome(bytes, splitHint: nil)
    #expect(expected.contains("a contact of another type"), "\(expected)")
    let good = Array((json.split(separator: "\n").dropLast().joined(separator: "\n") + "]}").utf8)
    let goodExpected = directoryOutcome(good, splitHint: nil)
    #expect(goodExpected.split(separator: "\n", omittingEmptySubsequences: false).count == 4, "\(goodExpected)")
    for hint in 0...bytes.count {
      #expect(directoryOutcome(bytes, splitHint: hint) == expected, "split hint \(hint)")
    }
    for hint in 0...good.count {
      #expect(directoryOutcome(good, splitHint: hint) == goodExpected, "split hint \(hint)")
    }
  }

  /// A file large enough is split without a hint, and reads as one thread does.
  @Test func aLargeSnapshotSplitsByItself() {
    let bytes = Self.snapshotBytes(contacts: 12_000)
    #expect(bytes.count >= StoredContactsReader.parallelBytes)
    let oneThread = outcome { () throws(StoreError) in
      try StoredContactsReader.reading(bytes, file: StoreLayout.snapshotName, splitHint: Int.max) {  // no split
        (reader) throws(StoreError) in try reader.snapshot().custom
      }
    }
    #expect(snapshotOutcome(bytes, splitHint: nil).hasPrefix(oneThread + "\n"))
  }

  /// The reader matches attribute names as bytes, in `ContactAttribute.allCases` order.
  @Test func attributeNamesMatchTheirSlots() {
    for (slot, attribute) in ContactAttribute.allCases.enumerated() {
      let name = Array(attribute.rawValue.utf8)
      #expect(name.withUnsafeBufferPointer { StoredContactsReader.attributeSlot(of: $0) } == slot)
      for other in [Array(name.dropLast()), name + [0x73], [0x49] + name.dropFirst()] {
        #expect(other.withUnsafeBufferPointer { StoredContactsReader.attributeSlot(of: $0) } == nil)
      }
    }
    #expect([UInt8]().withUnsafeBufferPointer { StoredContactsReader.attributeSlot(of: $0) } == nil)
  }
}
