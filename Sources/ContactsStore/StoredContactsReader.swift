import ContactsCore

/// Reads the files this store writes (snapshot and directory files) straight from their bytes.
///
/// They hold up to hundreds of thousands of flat contact objects, and a worker must be serving
/// within a fraction of a second of starting. The generic `JSONParser` builds a tree of values
/// and then a contact from it; this reader goes from bytes to `IndexedContact` in one pass and
/// keeps each object's bytes as the contact's JSON (the store wrote them with `Contact.json`),
/// so nothing is encoded again. Anything unexpected is reported as damage with its offset.
final class StoredContactsReader {
  /// The file's bytes: contacts keep slices of them as their JSON.
  let storage: [UInt8]
  /// `storage`'s memory, which this reader (and the second reader of a split, see
  /// `splittableArray`) scans byte by byte through `bytes`.
  let scanned: ScannedBytes
  /// `scanned`'s bytes, without a retain and release of an array per byte (which two threads
  /// reading one array would also contend on). Valid only during `reading(_:file:_:)`.
  let bytes: UnsafeBufferPointer<UInt8>
  var index = 0
  let file: String
  /// Where a second thread starts reading a large array of contacts (see `splittableArray`):
  /// the first element starting at or after this offset; `nil`, the middle of a file of at
  /// least `parallelBytes`. Tests set it to every offset of small files.
  var splitHint: Int?
  /// Files at least this large have their arrays of contacts read on two threads.
  static let parallelBytes = 1 << 20

  /// Calls `body` with a reader of `bytes`, which scans the array's own memory: the reader is
  /// valid only during the call, and must not be kept. (It once scanned a copy, which cost a
  /// worker reading a 15 MB snapshot 9 ms of its start-up.)
  ///
  /// - Parameter splitHint: see `splitHint`.
  static func reading<Result>(
    _ bytes: [UInt8], file: String, splitHint: Int? = nil,
    _ body: (StoredContactsReader) throws(StoreError) -> Result
  ) throws(StoreError) -> Result {
    try bytes.withUnsafeBufferPointer { (pointer) throws(StoreError) -> Result in
      let reader = StoredContactsReader(bytes, scanned: ScannedBytes(bytes: pointer), file: file)
      reader.splitHint = splitHint
      return try body(reader)
    }
  }

  /// A reader of `storage` that scans `scanned`, its memory (another reader's, during its
  /// `reading`).
  init(_ storage: [UInt8], scanned: ScannedBytes, file: String) {
    self.storage = storage
    self.scanned = scanned
    self.bytes = scanned.bytes
    self.file = file
  }

  /// `snapshot.json`: `{"format":1,"generation":G,"files":{…},"custom":[{"v":V,"c":{…}},…]}`.
  func snapshot() throws(StoreError) -> (
    generation: UInt64, files: [ContactType: String], custom: [IndexedContact],
    changes: (horizon: UInt64, entries: [StoredChange])?, answers: [IdempotentAnswer]
  ) {
    var answers: [IdempotentAnswer] = []
    var generation: UInt64?
    var files: [ContactType: String] = [:]
    var custom: [IndexedContact] = []
    var changes: (horizon: UInt64, entries: [StoredChange])?
    try objectMembers { (key) throws(StoreError) in
      switch key {
      case "format":
        guard (1...2).contains(try integer()) else { throw damaged("unknown format") }
      case "changes":
        changes = try changeLog()
      case "answers":
        try arrayElements { () throws(StoreError) in
          var fields: [String: String] = [:]
          var numbers: [String: UInt64] = [:]
          try objectMembers { (key) throws(StoreError) in
            switch key {
            case "status", "t": numbers[key] = try integer()
            default: fields[key] = try string()
            }
          }
          guard let user = fields["user"], let key = fields["key"], let hash = fields["hash"],
            let body = fields["body"], let status = numbers["status"], let time = numbers["t"]
          else { throw damaged("incomplete kept answer") }
          answers.append(
            IdempotentAnswer(
              user: user, key: key, requestHash: hash, status: Int(status), body: Array(body.utf8),
              createdAt: Int(time)))
        }
      case "generation":
        generation = try integer()
      case "files":
        try objectMembers { (typeName) throws(StoreError) in
          guard let type = ContactType(rawValue: typeName), type != .custom else { throw damaged("unknown file type") }
          files[type] = try string()
        }
      case "custom":
        custom = try splittableArray { (reader) throws(StoreError) in try reader.customEntry() }
      default:
        throw damaged("unknown key \(key)")
      }
    }
    guard let generation else { throw damaged("no generation") }
    return (generation, files, custom, changes, answers)
  }

  /// The change log of a snapshot: `{"horizon":30,"entries":[{"s":31,"c":{…}},{"s":32,"i":"…"}]}`.
  private func changeLog() throws(StoreError) -> (horizon: UInt64, entries: [StoredChange]) {
    var horizon: UInt64?
    var entries: [StoredChange] = []
    try objectMembers { (key) throws(StoreError) in
      switch key {
      case "horizon": horizon = try integer()
      case "entries":
        try arrayElements { () throws(StoreError) in
          var sequence: UInt64?
          var contact: (id: String, bytes: Range<Int>)?
          var deleted: String?
          try objectMembers { (key) throws(StoreError) in
            switch key {
            case "s": sequence = try integer()
            case "c": contact = try skimmedContact()
            case "i": deleted = try string()
            default: throw damaged("unknown key \(key) in a change")
            }
          }
          guard let sequence, let id = contact?.id ?? deleted else { throw damaged("incomplete change") }
          entries.append(
            StoredChange(sequence: sequence, id: id, contact: contact.map { (storage, $0.bytes, file) }))
        }
      default: throw damaged("unknown key \(key) in the change log")
      }
    }
    guard let horizon else { throw damaged("a change log without a horizon") }
    return (horizon, entries)
  }

  /// A directory file: `{"type":"User","contacts":[{…},…]}`, every contact at `version`, except
  /// one written as `{"v":V,"c":{…}}` (as the snapshot writes custom contacts): that one is at
  /// version `V`. A dump loaded from PostgreSQL keeps each contact's own version that way;
  /// imports write plain contacts, and files without any `"v"` read as they always did.
  func directoryFile(type: ContactType, version: UInt64) throws(StoreError) -> [IndexedContact] {
    var contacts: [IndexedContact] = []
    try objectMembers { (key) throws(StoreError) in
      switch key {
      case "type":
        guard try string() == type.rawValue else { throw damaged("holds another type") }
      case "contacts":
        contacts = try splittableArray { (reader) throws(StoreError) in
          let entry =
            try reader.isVersionedEntry()
            ? reader.versionedContact(defaultType: type) : reader.contact(version: version, defaultType: type)
          guard entry.type == type else { throw reader.damaged("a contact of another type") }
          return entry
        }
      default:
        throw damaged("unknown key \(key)")
      }
    }
    return contacts
  }

  /// One custom contact of a snapshot: `{"v":V,"c":{…}}`.
  ///
  /// Read by its bytes when it is exactly as the store writes it, without a `String` per key;
  /// any other shape, or damage, is read again from its start the general way, which accepts or
  /// judges it as it always did.
  private func customEntry() throws(StoreError) -> IndexedContact {
    let start = index
    if take(#"{"v":"#), let digit = peek(), digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") {
      let version = try integer()
      if take(#","c":"#), let entry = try? contact(version: version, defaultType: .custom), entry.type == .custom,
        take("}")
      {
        return entry
      }
    }
    index = start
    var version: UInt64?
    var entry: IndexedContact?
    try objectMembers { (key) throws(StoreError) in
      switch key {
      case "v": version = try integer()
      case "c":
        guard let version else { throw damaged("a contact before its version") }
        entry = try contact(version: version, defaultType: .custom)
      default: throw damaged("unknown key \(key)")
      }
    }
    guard let entry, entry.type == .custom, version != nil else { throw damaged("incomplete entry") }
    return entry
  }

  // MARK: Pieces

  /// Whether the object that starts here is `{"v":…` (a contact with its own version) rather
  /// than a contact (whose members are contact attributes, never `v`).
  func isVersionedEntry() -> Bool {
    skipWhitespace()
    var probe = index
    guard probe < bytes.count, bytes[probe] == UInt8(ascii: "{") else { return false }
    probe += 1
    while probe < bytes.count,
      bytes[probe] == 0x20 || bytes[probe] == 0x0A || bytes[probe] == 0x0D || bytes[probe] == 0x09
    {
      probe += 1
    }
    return bytes[probe...].starts(with: Self.versionKey)
  }

  private static let versionKey: [UInt8] = Array("\"v\"".utf8)

  /// `{"v":V,"c":{…}}`: a contact at version `V` (`"v"` first, as the store writes it).
  func versionedContact(defaultType: ContactType) throws(StoreError) -> IndexedContact {
    var version: UInt64?
    var entry: IndexedContact?
    try objectMembers { (key) throws(StoreError) in
      switch key {
      case "v": version = try integer()
      case "c":
        guard let version else { throw damaged("a contact before its version") }
        entry = try contact(version: version, defaultType: defaultType)
      default: throw damaged("unknown key \(key)")
      }
    }
    guard let entry else { throw damaged("a version without its contact") }
    return entry
  }

  /// One flat contact object; its bytes become the contact's JSON. Keys are matched as bytes,
  /// without making a `String` of each.
  func contact(version: UInt64, defaultType: ContactType) throws(StoreError) -> IndexedContact {
    let (contact, json) = try storedContact(version: version, defaultType: defaultType)
    return IndexedContact(contact, json: json)
  }

  /// A contact object checked as `storedContact` checks it (every key an attribute, each value a
  /// string, an id and a name), but only its id made a `String`: a change-log entry of the
  /// snapshot, read as a contact only if the log keeps it and it is not the current contact
  /// (`StoredChange.entry`). A loader whose journal holds many changes keeps none of them.
  ///
  /// - Returns: the id, and where the object's bytes are.
  private func skimmedContact() throws(StoreError) -> (id: String, bytes: Range<Int>) {
    var id: String?
    var hasName = false
    let bytes = try contactMembers { (slot) throws(StoreError) in
      switch slot {
      case 0: id = try string()
      case 1:
        try skipString()
        hasName = true
      default: try skipString()
      }
    }
    guard let id, hasName else { throw damaged("a contact without id or name") }
    return (id, bytes)
  }

  /// Walks a flat contact object from `index`, `{"id":"…","name":"…",…}`: every key must name
  /// an attribute, whose value `value` reads or steps over, given the attribute's position in
  /// `ContactAttribute.allCases`. Keys are matched as bytes, without making a `String` of each.
  ///
  /// Inlined into its two callers, so that reading a contact's member is no closure call.
  ///
  /// - Returns: where the object's bytes are.
  @inline(__always)
  private func contactMembers(_ value: (_ slot: Int) throws(StoreError) -> Void) throws(StoreError) -> Range<Int> {
    try expect(UInt8(ascii: "{"))
    let start = index - 1
    skipWhitespace()
    if peek() != UInt8(ascii: "}") {
      while true {
        try expect(UInt8(ascii: "\""))
        let keyStart = index
        while index < bytes.count && bytes[index] != UInt8(ascii: "\"") { index += 1 }
        let key = bytes[keyStart..<index]
        index += 1
        guard let slot = Self.attributeSlot(of: UnsafeBufferPointer(rebasing: key)) else {
          throw damaged("unknown contact field \(String(decoding: key, as: UTF8.self))")
        }
        try expect(UInt8(ascii: ":"))
        try value(slot)
        skipWhitespace()
        guard index < bytes.count else { throw damaged("cut off") }
        let separator = bytes[index]
        if separator == UInt8(ascii: "}") { break }
        guard separator == UInt8(ascii: ",") else { throw damaged("expected ',' or '}'") }
        index += 1
      }
    }
    index += 1  // }
    return start..<index
  }

  /// Steps over a string as `string()` reads it, without making it (one with an escape is still
  /// decoded, as `string()` would, to find a bad one).
  private func skipString() throws(StoreError) {
    try expect(UInt8(ascii: "\""))
    let start = index
    while index < bytes.count {
      switch bytes[index] {
      case UInt8(ascii: "\""):
        index += 1
        return
      case UInt8(ascii: "\\"):
        index = start - 1
        _ = try slowString()
        return
      default:
        index += 1
      }
    }
    throw damaged("a string is cut off")
  }

  /// `contact(version:defaultType:)`, not yet indexed: the contact and its bytes (`nil` when
  /// they lack the type, and so are not the contact's JSON).
  private func storedContact(version: UInt64, defaultType: ContactType) throws(StoreError) -> (
    Contact, json: ArraySlice<UInt8>?
  ) {
    var id: String?
    var name: String?
    var typeName: String?
    var phoneNumber: String?
    var userName: String?
    var firstName: String?
    var lastName: String?
    var employeeId: String?
    let bytes = try contactMembers { (slot) throws(StoreError) in
      let value = try string()
      switch slot {
      case 0: id = value
      case 1: name = value
      case 2: typeName = value
      case 3: phoneNumber = value
      case 4: userName = value
      case 5: firstName = value
      case 6: lastName = value
      default: employeeId = value
      }
    }
    guard let id, let name else { throw damaged("a contact without id or name") }
    let type = typeName.flatMap(ContactType.init(rawValue:)) ?? defaultType
    let contact = Contact(
      id: id, type: type, name: name, phoneNumber: phoneNumber, userName: userName, firstName: firstName,
      lastName: lastName, employeeId: employeeId, version: version)
    return (contact, typeName == nil ? nil : storage[bytes])
  }

  /// The position in `ContactAttribute.allCases` of the attribute named `key`, matched as
  /// bytes (four keys per contact, hundreds of thousands of contacts).
  static func attributeSlot(of key: UnsafeBufferPointer<UInt8>) -> Int? {
    func matches(_ name: StaticString) -> Bool {
      var offset = 0
      while offset < key.count, name.utf8Start[offset] == key[offset] { offset += 1 }
      return offset == key.count
    }
    switch key.count {
    case 2: return matches("id") ? 0 : nil
    case 4: return matches("name") ? 1 : matches("type") ? 2 : nil
    case 11: return matches("phoneNumber") ? 3 : nil
    case 8: return matches("userName") ? 4 : matches("lastName") ? 6 : nil
    case 9: return matches("firstName") ? 5 : nil
    case 10: return matches("employeeId") ? 7 : nil
    default: return nil
    }
  }

  private func objectMembers(_ member: (String) throws(StoreError) -> Void) throws(StoreError) {
    try commaSeparated(between: UInt8(ascii: "{"), and: UInt8(ascii: "}")) { () throws(StoreError) in
      let key = try string()
      try expect(UInt8(ascii: ":"))
      try member(key)
    }
  }

  private func arrayElements(_ element: () throws(StoreError) -> Void) throws(StoreError) {
    try commaSeparated(between: UInt8(ascii: "["), and: UInt8(ascii: "]"), element)
  }

  /// `open`, then items separated by commas (each read by `item`), then `close`.
  private func commaSeparated(between open: UInt8, and close: UInt8, _ item: () throws(StoreError) -> Void)
    throws(StoreError)
  {
    try expect(open)
    skipWhitespace()
    if peek() == close {
      index += 1
      return
    }
    while true {
      try item()
      skipWhitespace()
      guard index < bytes.count else { throw damaged("cut off") }
      let separator = bytes[index]
      index += 1
      if separator == close { return }
      guard separator == UInt8(ascii: ",") else {
        throw damaged("expected ',' or '\(Character(Unicode.Scalar(close)))'")
      }
    }
  }

  private func string() throws(StoreError) -> String {
    try expect(UInt8(ascii: "\""))
    let start = index
    while index < bytes.count {
      switch bytes[index] {
      case UInt8(ascii: "\""):
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        index += 1
        return text
      case UInt8(ascii: "\\"):
        // Escapes are rare (a quote or a backslash in a name): let the full parser decode it.
        index = start - 1
        return try slowString()
      default:
        index += 1
      }
    }
    throw damaged("a string is cut off")
  }

  private func slowString() throws(StoreError) -> String {
    var end = index + 1
    while end < bytes.count {
      if bytes[end] == UInt8(ascii: "\\") {
        end += 2
        continue
      }
      if bytes[end] == UInt8(ascii: "\"") { break }
      end += 1
    }
    guard end < bytes.count, let value = try? JSONParser.parse(Array(bytes[index...end])), let text = value.stringValue
    else { throw damaged("an unreadable string") }
    index = end + 1
    return text
  }

  /// A number without sign or fraction; one past `UInt64.max` is damage, not a value wrapped
  /// around (a version or generation that silently went back).
  private func integer() throws(StoreError) -> UInt64 {
    skipWhitespace()
    var value: UInt64 = 0
    let start = index
    while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
      let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
      let (sum, carry) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
      guard !overflow, !carry else { throw damaged("a number out of range") }
      value = sum
      index += 1
    }
    guard index > start else { throw damaged("expected a number") }
    return value
  }

  /// Takes `text` when the bytes at `index` are exactly it (no blanks skipped).
  func take(_ text: StaticString) -> Bool {
    let count = text.utf8CodeUnitCount
    guard bytes.count - index >= count else { return false }
    for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
    index += count
    return true
  }

  func expect(_ byte: UInt8) throws(StoreError) {
    skipWhitespace()
    guard index < bytes.count, bytes[index] == byte else {
      throw damaged("expected '\(Character(Unicode.Scalar(byte)))'")
    }
    index += 1
  }

  func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

  func skipWhitespace() {
    while index < bytes.count,
      bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09
    {
      index += 1
    }
  }

  func damaged(_ reason: String) -> StoreError {
    .damaged(file: file, line: nil, reason: "\(reason) at byte \(index)")
  }
}

/// What `StoredContactsReader` scans through a pointer: an array's memory, inside its
/// `withUnsafeBufferPointer` (`StoredContactsReader.reading`), and so valid only there; a second
/// thread of a split reads it too, and is joined before that call returns.
struct ScannedBytes: @unchecked Sendable {
  // @unchecked: the memory is never written while it is read, from any thread.
  let bytes: UnsafeBufferPointer<UInt8>
}
