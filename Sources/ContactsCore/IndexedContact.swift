/// A contact with everything a request needs precomputed once: its JSON, its sort key and the
/// folded values the filters compare.
///
/// A class so that the listing order of a large directory moves pointers, not structs, when a
/// change is inserted; immutable, so sharing it between states is safe.
///
/// Flat: besides its id (the key of the id index) and its JSON (a slice of the bytes it was read
/// from), every text it holds, as sent and folded, is one byte buffer (`FlatText`), where
/// `Contact`'s eight strings and the folded values had been a dozen fields and up to five more
/// allocations. A worker that loads 100,000 contacts touches that much less fresh memory, which is
/// what its start-up was bound by (docs/performance.md). `contact` builds the `Contact` when a
/// write, an import or a dump needs one.
public final class IndexedContact: Sendable {
  /// The contact's id, as sent.
  public let id: String
  public let type: ContactType
  /// The sequence number of the change that last wrote this contact (its entity tag).
  public let version: UInt64
  /// The contact's JSON object, as listings and `GET /contacts/{id}` send it. A slice, so that a
  /// worker loading a data directory keeps the file's bytes rather than a copy per contact.
  public let json: ArraySlice<UInt8>
  private let text: FlatText

  /// 0xFF never occurs in UTF-8, and a `q` is always UTF-8 (a `String`), so no query can match
  /// on the separator or across two fields. (NUL, the separator before, let `q=%00` match every
  /// user that has a userName.)
  static let searchSeparator: UInt8 = 0xFF

  /// - Parameters:
  ///   - contact: the contact.
  ///   - json: its JSON object when already at hand (as `contact.json` would make it), so that
  ///     loading a data directory does not encode every contact again.
  public init(_ contact: Contact, json: ArraySlice<UInt8>? = nil) {
    id = contact.id
    type = contact.type
    version = contact.version
    self.json = json ?? ArraySlice(contact.json)
    text = FlatText(contact)
  }

  /// The contact, its strings made from the flat text.
  public var contact: Contact {
    Contact(
      id: id, type: type, name: text.string(.name) ?? "", phoneNumber: text.string(.phoneNumber),
      userName: text.string(.userName), firstName: text.string(.firstName), lastName: text.string(.lastName),
      employeeId: text.string(.employeeId), version: version)
  }

  /// Whether this holds exactly `contact`: the same id, type and version, and the same bytes in
  /// every value (stricter than `Contact`'s `==`, which holds canonically equivalent text
  /// equal). Without making the `Contact`: a loader checks each contact the journal's scan
  /// indexed on another thread with this before it takes it.
  public func holds(_ contact: Contact) -> Bool {
    func same(_ bytes: UnsafeBufferPointer<UInt8>, _ value: String) -> Bool {
      Self.withUTF8(value) { Self.sameBytes(UnsafeRawBufferPointer(bytes), UnsafeRawBufferPointer($0)) }
    }
    guard type == contact.type, version == contact.version, Self.withUTF8(id, { same($0, contact.id) }) else {
      return false
    }
    func same(_ run: FlatText.Run, _ value: String?) -> Bool {
      guard let value else { return !text.has(run) }
      return text.has(run) && text.withBytes(from: run, through: run) { same($0, value) }
    }
    return same(.name, contact.name) && same(.phoneNumber, contact.phoneNumber) && same(.userName, contact.userName)
      && same(.firstName, contact.firstName) && same(.lastName, contact.lastName)
      && same(.employeeId, contact.employeeId)
  }

  /// Calls `body` with what `q` searches: the folded name, and a user's folded userName,
  /// firstName, lastName and employeeId, each after a `searchSeparator`, as one byte string so
  /// that a search is a plain byte scan.
  func withSearchableText<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    text.withBytes(from: .foldedName, through: .foldedEmployeeId, body)
  }

  /// Calls `body` with the digits of the phone number, as UTF-8 (none without a phone number).
  func withPhoneDigits<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    text.withBytes(from: .digits, through: .digits, body)
  }

  /// Calls `body` with the folded name's UTF-8: the listing order's first key.
  func withSortKey<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    text.withBytes(from: .foldedName, through: .foldedName, body)
  }

  /// Calls `body` with the folded id's UTF-8.
  func withFoldedID<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    text.idIsFolded ? Self.withUTF8(id, body) : text.withBytes(from: .foldedID, through: .foldedID, body)
  }

  /// A string's UTF-8 bytes without copying them (a native string is always contiguous; a
  /// small one is spilled to the stack).
  static func withUTF8<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
    return Array(text.utf8).withUnsafeBufferPointer(body)
  }

  /// Whether two byte strings are the same, compared eight bytes at a time (`elementsEqual`
  /// goes byte by byte, with a bounds check on each byte of a slice).
  public static func sameBytes(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var offset = 0
    while offset + 8 <= lhs.count {
      guard
        lhs.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
          == rhs.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
      else { return false }
      offset += 8
    }
    while offset < lhs.count {
      guard lhs[offset] == rhs[offset] else { return false }
      offset += 1
    }
    return true
  }

  /// Whether this contact's JSON is exactly `bytes`.
  public func hasJSON(_ bytes: ArraySlice<UInt8>) -> Bool {
    json.withUnsafeBytes { mine in bytes.withUnsafeBytes { other in Self.sameBytes(mine, other) } }
  }

  /// Whether the folded search text contains `needle` (already folded).
  func searchableTextContains(_ needle: [UInt8]) -> Bool {
    withSearchableText { Self.contains($0, needle) }
  }

  /// Whether the phone number's digits contain `digits`.
  func phoneDigitsContain(_ digits: [UInt8]) -> Bool {
    withPhoneDigits { Self.contains($0, digits) }
  }

  /// Byte-string search; the strings here are short, so a direct scan beats anything cleverer.
  static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty else { return true }
    guard haystack.count >= needle.count else { return false }
    let first = needle[0]
    var start = 0
    let last = haystack.count - needle.count
    while start <= last {
      if haystack[start] == first {
        var offset = 1
        while offset < needle.count && haystack[start + offset] == needle[offset] { offset += 1 }
        if offset == needle.count { return true }
      }
      start += 1
    }
    return false
  }

  /// The folded value of `attribute` (digits for phone numbers), `nil` when absent. Made from
  /// the flat text on each call: for the index's keys and sort texts, which need `String`s
  /// (canonically equivalent texts alike); a filter's check on each candidate is `hasFolded`.
  func folded(_ attribute: ContactAttribute) -> String? {
    switch attribute {
    case .id: text.idIsFolded ? id : text.string(.foldedID)
    case .name: text.string(.foldedName)
    case .type: type.folded
    case .phoneNumber: text.string(.digits)
    case .userName: text.string(.foldedUserName)
    case .firstName: text.string(.foldedFirstName)
    case .lastName: text.string(.foldedLastName)
    case .employeeId: text.string(.foldedEmployeeId)
    }
  }

  /// Whether the folded value of `attribute` is one of `values` (folded too), as `String`'s `==`
  /// compares them; never for an absent value, nor for a phone number without digits. An exact
  /// filter checks each candidate with this: the bytes are compared in place, and `String`s are
  /// made only where they differ and one side is not ASCII, where canonical equivalence could
  /// still make them equal (U+037E is `;`).
  func hasFolded(_ attribute: ContactAttribute, amongst values: [String]) -> Bool {
    let run: FlatText.Run
    switch attribute {
    case .type: return values.contains(type.folded)
    case .id where text.idIsFolded: return values.contains(id)
    case .id: run = .foldedID
    case .name: run = .foldedName
    case .phoneNumber: run = .digits
    case .userName: run = .foldedUserName
    case .firstName: run = .foldedFirstName
    case .lastName: run = .foldedLastName
    case .employeeId: run = .foldedEmployeeId
    }
    guard text.has(run) else { return false }
    let outcome: FoldedComparison = text.withBytes(from: run, through: run) { bytes in
      if bytes.isEmpty && run == .digits { return .noMatch }  // no digits: never matches
      // The same bytes are the same `String`; different bytes can still be (canonical
      // equivalence) only where one side is not ASCII.
      var needsStrings = false
      for value in values {
        let same = Self.withUTF8(value) { valueBytes in
          if Self.sameBytes(UnsafeRawBufferPointer(valueBytes), UnsafeRawBufferPointer(bytes)) { return true }
          if !needsStrings && !valueBytes.allSatisfy({ $0 < 0x80 }) { needsStrings = true }
          return false
        }
        if same { return .match }
      }
      if !needsStrings && !bytes.allSatisfy({ $0 < 0x80 }) { needsStrings = true }
      return needsStrings ? .compareStrings : .noMatch
    }
    switch outcome {
    case .match: return true
    case .noMatch: return false
    case .compareStrings: return text.string(run).map(values.contains) ?? false
    }
  }

  private enum FoldedComparison { case match, noMatch, compareStrings }

  /// The phone number as sent, `nil` when absent.
  var phoneNumber: String? { text.string(.phoneNumber) }

  /// The listing order: by the code points of the folded name, then `ContactOrder`'s final
  /// comparison (the folded ids, then the ids as sent), exactly as `sortBy=name` orders: a strict
  /// total order, unlike `String`'s `<`, which holds canonical equivalents equal and is not a
  /// strict weak order for text that is not in NFC.
  public static func precedes(_ lhs: IndexedContact, _ rhs: IndexedContact) -> Bool {
    let byName = lhs.withSortKey { left in rhs.withSortKey { right in ContactOrder.compareBytes(left, right) } }
    return byName != 0 ? byName < 0 : ContactOrder.compareIDs(lhs, rhs) < 0
  }
}

/// Every text of a contact in one buffer: the values as sent, then the folded ones, each a run of
/// bytes whose end is kept in a table at the buffer's start (16-bit ends, or 32-bit for a contact
/// of more than 64 KiB of text, which only an import file could hold).
///
/// The folded userName, firstName, lastName and employeeId of a user each start with the search
/// separator, so that the folded name and they, in a row, are the text `q` searches; for other
/// types they are empty.
struct FlatText: @unchecked Sendable {
  // @unchecked: `ManagedBuffer` is not `Sendable`; the storage is written once, in `init`, and
  // only read after.
  /// The runs, in the buffer's order.
  enum Run: Int {
    case name, phoneNumber, userName, firstName, lastName, employeeId
    case foldedID, digits
    case foldedName, foldedUserName, foldedFirstName, foldedLastName, foldedEmployeeId

    /// The bit of `flags` telling an optional value from an absent one.
    var presenceBit: UInt16 {
      switch self {
      case .phoneNumber, .digits: 1
      case .userName, .foldedUserName: 2
      case .firstName, .foldedFirstName: 4
      case .lastName, .foldedLastName: 8
      case .employeeId, .foldedEmployeeId: 16
      default: 0
      }
    }

    /// Whether the run starts with the search separator (for a user).
    var isSeparated: Bool { rawValue > Run.foldedName.rawValue }
  }

  private static let runCount = Run.foldedEmployeeId.rawValue + 1
  private static let idIsFoldedBit: UInt16 = 0x100
  private static let wideBit: UInt16 = 0x200
  private static let userBit: UInt16 = 0x400

  /// The bytes: one allocation, of a class whose metadata needs no lookup (an `[UInt8]` made
  /// per contact went through the runtime's generic metadata cache each time). No header: a
  /// `ManagedBuffer`'s header is a `var`, and every read of it paid a dynamic exclusivity check.
  private final class Storage: ManagedBuffer<Void, UInt8> {}
  private let storage: Storage
  /// Which optional values are present, and the bits above.
  private let flags: UInt16

  /// The folded id is the id itself (no run of its own).
  var idIsFolded: Bool { flags & Self.idIsFoldedBit != 0 }

  /// What a run is made of: a value copied as it is, ASCII text lowercased on the way in (what
  /// `TextFolding.fold` does to ASCII, without making the folded string), or a phone number's
  /// digits.
  private enum Making { case copy, lowercase, digits }

  /// A value to fold: ASCII text is lowercased as it is copied; other text is folded now.
  private static func folding(_ text: String) -> (String, Making) {
    let isASCII = IndexedContact.withUTF8(text) { bytes in bytes.allSatisfy { $0 < 0x80 } }
    return isASCII ? (text, .lowercase) : (TextFolding.fold(text), .copy)
  }

  init(_ contact: Contact) {
    let isUser = contact.type == .user
    // The id's folded run is left empty when folding changes nothing (ids are mostly so).
    let foldedID: (String, Making)? =
      IndexedContact.withUTF8(contact.id) { bytes in
        if bytes.allSatisfy({ $0 < 0x80 }) {
          return bytes.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? (contact.id, .lowercase) : nil
        }
        let folded = TextFolding.fold(contact.id)
        return folded == contact.id ? nil : (folded, .copy)
      }
    let foldedName = Self.folding(contact.name)
    let foldedUserName = isUser ? contact.userName.map(Self.folding) : nil
    let foldedFirstName = isUser ? contact.firstName.map(Self.folding) : nil
    let foldedLastName = isUser ? contact.lastName.map(Self.folding) : nil
    let foldedEmployeeId = isUser ? contact.employeeId.map(Self.folding) : nil
    // Every run's value in the buffer's order (`Run`), without an array of them: this runs
    // once per contact a worker loads.
    func forEachRun(_ body: (Run, String?, Making) -> Void) {
      body(.name, contact.name, .copy)
      body(.phoneNumber, contact.phoneNumber, .copy)
      body(.userName, contact.userName, .copy)
      body(.firstName, contact.firstName, .copy)
      body(.lastName, contact.lastName, .copy)
      body(.employeeId, contact.employeeId, .copy)
      body(.foldedID, foldedID?.0, foldedID?.1 ?? .copy)
      body(.digits, contact.phoneNumber, .digits)
      body(.foldedName, foldedName.0, foldedName.1)
      body(.foldedUserName, foldedUserName?.0, foldedUserName?.1 ?? .copy)
      body(.foldedFirstName, foldedFirstName?.0, foldedFirstName?.1 ?? .copy)
      body(.foldedLastName, foldedLastName?.0, foldedLastName?.1 ?? .copy)
      body(.foldedEmployeeId, foldedEmployeeId?.0, foldedEmployeeId?.1 ?? .copy)
    }
    var flags: UInt16 = (foldedID == nil ? Self.idIsFoldedBit : 0) | (isUser ? Self.userBit : 0)
    var textCount = 0
    forEachRun { run, value, making in
      if let value {
        if making == .digits {
          textCount += IndexedContact.withUTF8(value) { bytes in
            bytes.reduce(0) { $0 + ($1 >= UInt8(ascii: "0") && $1 <= UInt8(ascii: "9") ? 1 : 0) }
          }
        } else {
          textCount += value.utf8.count
        }
        if run.rawValue < Run.foldedID.rawValue { flags |= run.presenceBit }
      }
      if isUser && run.isSeparated { textCount += 1 }
    }
    let wide = textCount > Int(UInt16.max)
    if wide { flags |= Self.wideBit }
    let tableCount = Self.runCount * (wide ? 4 : 2)
    let storage = unsafeDowncast(Storage.create(minimumCapacity: tableCount + textCount) { _ in }, to: Storage.self)
    storage.withUnsafeMutablePointerToElements { elements in
      let base = UnsafeMutableRawPointer(elements)
      var end = 0
      forEachRun { run, value, making in
        if isUser && run.isSeparated {
          elements[tableCount + end] = IndexedContact.searchSeparator
          end += 1
        }
        if let value {
          IndexedContact.withUTF8(value) { bytes in
            let target = elements + tableCount + end
            switch making {
            case .copy:
              if let source = bytes.baseAddress { target.update(from: source, count: bytes.count) }
              end += bytes.count
            case .lowercase:
              for (offset, byte) in bytes.enumerated() {
                target[offset] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
              }
              end += bytes.count
            case .digits:
              for byte in bytes where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                elements[tableCount + end] = byte
                end += 1
              }
            }
          }
        }
        if wide {
          base.storeBytes(of: UInt32(end), toByteOffset: run.rawValue * 4, as: UInt32.self)
        } else {
          base.storeBytes(of: UInt16(end), toByteOffset: run.rawValue * 2, as: UInt16.self)
        }
      }
    }
    self.storage = storage
    self.flags = flags
  }

  /// Calls `body` with the bytes of the runs `first` through `last` (the separator before
  /// `first` left out).
  @inline(__always)
  func withBytes<Result>(from first: Run, through last: Run, _ body: (UnsafeBufferPointer<UInt8>) -> Result)
    -> Result
  {
    let flags = flags
    return storage.withUnsafeMutablePointerToElements { elements in
      let wide = flags & Self.wideBit != 0
      let raw = UnsafeRawPointer(elements)
      func end(_ index: Int) -> Int {
        guard index >= 0 else { return 0 }
        return wide
          ? Int(raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
          : Int(raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
      }
      let tableCount = Self.runCount * (wide ? 4 : 2)
      var start = end(first.rawValue - 1)
      if first.isSeparated && flags & Self.userBit != 0 { start += 1 }
      let stop = max(start, end(last.rawValue))
      return body(UnsafeBufferPointer(start: elements + tableCount + start, count: stop - start))
    }
  }

  /// Whether the run holds a value (`string(run)` is not `nil`).
  func has(_ run: Run) -> Bool {
    let bit = run.presenceBit
    if bit != 0 && flags & bit == 0 { return false }
    if run.isSeparated && flags & Self.userBit == 0 { return false }
    return !(run == .foldedID && idIsFolded)
  }

  /// The run's text; `nil` for an absent value (a folded user attribute of another type
  /// included).
  func string(_ run: Run) -> String? {
    guard has(run) else { return nil }
    return withBytes(from: run, through: run) { String(decoding: $0, as: UTF8.self) }
  }
}
