/// Where a contact comes from, and so what may be done to it over HTTP.
public enum ContactType: String, CaseIterable, Sendable, Codable {
  /// Added by admins through the API; the only writable type.
  case custom = "Custom"
  /// A queue from the contact-center directory (read-only, replaced by `import`).
  case queue = "Queue"
  /// A user from the contact-center directory (read-only, replaced by `import`).
  case user = "User"

  /// The name folded (`TextFolding.fold(rawValue)`), as exact filters compare it: a constant,
  /// not a string per contact.
  public var folded: String {
    switch self {
    case .custom: "custom"
    case .queue: "queue"
    case .user: "user"
    }
  }

  /// The type named by `text`, compared case-insensitively (`custom` is `Custom`).
  public init?(caseInsensitive text: String) {
    let folded = TextFolding.fold(text)
    guard let match = Self.allCases.first(where: { $0.folded == folded }) else {
      return nil
    }
    self = match
  }

  /// The attributes a contact of this type may carry.
  public var attributes: [ContactAttribute] {
    switch self {
    case .custom, .queue: [.id, .name, .type, .phoneNumber]
    case .user: ContactAttribute.allCases
    }
  }
}

/// Every attribute of the contact object, by its JSON name.
public enum ContactAttribute: String, CaseIterable, Sendable {
  case id, name, type, phoneNumber, userName, firstName, lastName, employeeId

  /// The attribute's place in `allCases` (0…7): an index into a fixed array of the attributes'
  /// values, or a tag for keys of each.
  public var position: Int {
    switch self {
    case .id: 0
    case .name: 1
    case .type: 2
    case .phoneNumber: 3
    case .userName: 4
    case .firstName: 5
    case .lastName: 6
    case .employeeId: 7
    }
  }
}

/// One entry of the directory.
public struct Contact: Equatable, Sendable {
  public var id: String
  public var type: ContactType
  public var name: String
  public var phoneNumber: String?
  public var userName: String?
  public var firstName: String?
  public var lastName: String?
  public var employeeId: String?
  /// The sequence number of the change that last wrote this contact (its entity tag).
  public var version: UInt64

  public init(
    id: String, type: ContactType, name: String, phoneNumber: String? = nil, userName: String? = nil,
    firstName: String? = nil, lastName: String? = nil, employeeId: String? = nil, version: UInt64 = 0
  ) {
    self.id = id
    self.type = type
    self.name = name
    self.phoneNumber = phoneNumber
    self.userName = userName
    self.firstName = firstName
    self.lastName = lastName
    self.employeeId = employeeId
    self.version = version
  }

  /// The value of `attribute`, or `nil` when this contact has none.
  public func value(of attribute: ContactAttribute) -> String? {
    switch attribute {
    case .id: id
    case .name: name
    case .type: type.rawValue
    case .phoneNumber: phoneNumber
    case .userName: userName
    case .firstName: firstName
    case .lastName: lastName
    case .employeeId: employeeId
    }
  }

  /// The contact as the API returns it: only its type's attributes, absent values omitted.
  public var json: [UInt8] { json(fields: nil) }

  /// The contact as the API returns it with `fields`: only the attributes in `fields` that it
  /// has, and always its `id`, in the same order as the whole contact; `nil` is every attribute.
  public func json(fields: Set<ContactAttribute>?) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 160)
    let isUser = type == .user
    func kept(_ attribute: ContactAttribute, _ value: String?) -> String? {
      fields == nil || fields?.contains(attribute) == true ? value : nil
    }
    writer.appendObject([
      "id": id,
      "name": kept(.name, name),
      "type": kept(.type, type.rawValue),
      "phoneNumber": kept(.phoneNumber, phoneNumber),
      "userName": isUser ? kept(.userName, userName) : nil,
      "firstName": isUser ? kept(.firstName, firstName) : nil,
      "lastName": isUser ? kept(.lastName, lastName) : nil,
      "employeeId": isUser ? kept(.employeeId, employeeId) : nil,
    ])
    return writer.bytes
  }
}

/// Folding used for every comparison: case-insensitive equality, substring search and order.
public enum TextFolding {
  /// `text` case-folded, for case-insensitive comparison: Unicode full case folding (the C and F
  /// mappings of CaseFolding.txt), so `Straße` folds as `strasse`, `ﬁx` as `fix`, `ΣΑΣ` and
  /// `σας` alike as `σασ`, `µ` (micro) as `μ`, `K` (Kelvin) as `k`, `İ` as `i` + U+0307.
  ///
  /// The standard library has no case folding; this is uppercasing then lowercasing (both
  /// full, context-free mappings), with the two letters where that differs from CaseFolding.txt
  /// corrected: `ẞ` (U+1E9E) folds as `ss` (not `ß`), and `ı` (U+0131) stays `ı` (not `i`).
  /// Compared with Python's `str.casefold` over every code point (Unicode 14), the only other
  /// difference is Cherokee, whose letters CaseFolding.txt folds to uppercase and this to
  /// lowercase: the same texts compare equal, but they sort by the lowercase code points. No
  /// Turkic (T) mappings, and no normalization: the folded text keeps its composed or
  /// decomposed form (`e` + U+0301 stays decomposed).
  ///
  /// The folded text may be longer than `text` (`ß` → `ss`): nothing relies on its length.
  /// ASCII text, by far the most common, takes a fast path that allocates nothing when it is
  /// lowercase already.
  public static func fold(_ text: String) -> String {
    // Over the string's own bytes (a worker folds every contact's fields when it loads); a
    // string that is not native UTF-8 has none to lend, and takes the general path.
    text.utf8.withContiguousStorageIfAvailable { bytes in
      var hasUppercase = false
      for (offset, byte) in bytes.enumerated() {
        if byte >= 0x80 { return foldUnicode(text, bytes, from: offset) }
        if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { hasUppercase = true }
      }
      guard hasUppercase else { return text }
      // Written straight into the new string: no intermediate array.
      return String(unsafeUninitializedCapacity: bytes.count) { buffer in
        for (offset, byte) in bytes.enumerated() {
          buffer[offset] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
        }
        return bytes.count
      }
    } ?? Array(text.utf8).withUnsafeBufferPointer { foldUnicode(text, $0) }
  }

  /// `fold` of text that is not all ASCII (`bytes` are its UTF-8, ASCII before `start`).
  private static func foldUnicode(_ text: String, _ bytes: UnsafeBufferPointer<UInt8>, from start: Int = 0)
    -> String
  {
    // The only letters that uppercasing then lowercasing gets wrong: `ı` (C4 B1), `ẞ` (E1 BA 9E).
    var hasException = false
    for index in start..<bytes.count {
      switch bytes[index] {
      case 0xC4 where index + 1 < bytes.count && bytes[index + 1] == 0xB1: hasException = true
      case 0xE1 where index + 2 < bytes.count && bytes[index + 1] == 0xBA && bytes[index + 2] == 0x9E:
        hasException = true
      default: continue
      }
      break
    }
    guard hasException else { return text.uppercased().lowercased() }
    // Rare: each run between two `ı` folded on its own (the mappings are context-free), and
    // `ẞ` spelled `ss` before folding.
    var folded = ""
    var run = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\u{131}":
        folded += String(run).uppercased().lowercased()
        folded.unicodeScalars.append(scalar)
        run = String.UnicodeScalarView()
      case "\u{1E9E}": run.append(contentsOf: "ss".unicodeScalars)
      default: run.append(scalar)
      }
    }
    return folded + String(run).uppercased().lowercased()
  }

  /// The ASCII digits of `text`, in order: how phone numbers are compared.
  public static func digits(of text: String) -> String {
    String(unsafeUninitializedCapacity: text.utf8.count) { buffer in
      var count = 0
      for byte in text.utf8 where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
        buffer[count] = byte
        count += 1
      }
      return count
    }
  }
}
