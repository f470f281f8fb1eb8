/// Appends JSON to a byte buffer. Only what this service writes: objects of strings, arrays of
/// pre-encoded objects, numbers.
public struct JSONWriter {
  public private(set) var bytes: [UInt8] = []

  public init(reservingCapacity capacity: Int = 256) {
    bytes.reserveCapacity(capacity)
  }

  public mutating func append(raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }
  public mutating func append(raw: StaticString) {
    bytes.append(contentsOf: UnsafeBufferPointer(start: raw.utf8Start, count: raw.utf8CodeUnitCount))
  }

  /// Appends `value` as a JSON string: quotes, and escapes for `"`, `\` and control characters.
  ///
  /// Text with nothing to escape (nearly all) is appended in one copy, not byte by byte.
  public mutating func append(string value: String) {
    bytes.append(UInt8(ascii: "\""))
    var value = value
    value.withUTF8 { utf8 in
      if utf8.contains(where: Self.needsEscape) {
        appendEscaped(utf8)
      } else {
        bytes.append(contentsOf: utf8)
      }
    }
    bytes.append(UInt8(ascii: "\""))
  }

  private static func needsEscape(_ byte: UInt8) -> Bool {
    byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
  }

  private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
    for byte in utf8 {
      switch byte {
      case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
      case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
      case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
      case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
      case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
      default: bytes.append(byte)
      }
    }
  }

  public mutating func append(integer value: some BinaryInteger) {
    bytes.append(contentsOf: String(value).utf8)
  }

  /// Appends `,"key":` (or `"key":` when `first`), then the value: the members of objects
  /// built field by field (log lines, journal records, the status page).
  public mutating func append(key: StaticString, integer value: some BinaryInteger, first: Bool = false) {
    appendKey(key, first: first)
    append(integer: value)
  }

  public mutating func append(key: StaticString, string value: String, first: Bool = false) {
    appendKey(key, first: first)
    append(string: value)
  }

  /// As `append(key:string:first:)`, for a key known only at run time (escaped like a value).
  public mutating func append(dynamicKey key: String, string value: String) {
    bytes.append(UInt8(ascii: ","))
    append(string: key)
    bytes.append(UInt8(ascii: ":"))
    append(string: value)
  }

  private mutating func appendKey(_ key: StaticString, first: Bool) {
    if !first { bytes.append(UInt8(ascii: ",")) }
    bytes.append(UInt8(ascii: "\""))
    append(raw: key)
    bytes.append(UInt8(ascii: "\""))
    bytes.append(UInt8(ascii: ":"))
  }

  /// Appends an object of string members in the given order, skipping `nil` values (absent
  /// values are omitted, never `null`).
  public mutating func appendObject(_ members: KeyValuePairs<StaticString, String?>) {
    bytes.append(UInt8(ascii: "{"))
    var first = true
    for (key, value) in members {
      guard let value else { continue }
      append(key: key, string: value, first: first)
      first = false
    }
    bytes.append(UInt8(ascii: "}"))
  }
}
