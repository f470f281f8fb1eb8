/// A strict RFC 8259 parser that reports the line, column and expectation of the first error.
///
/// Written here rather than taken from Foundation for two reasons: its errors must tell an admin
/// exactly what is wrong with a hand-written body (the vendor's own example lacks commas), and
/// it must keep duplicate keys so that validation can name them.
public struct JSONParser {
  private let bytes: [UInt8]
  private var index = 0
  private var depth = 0
  /// Start offsets of the elements of the first array met at depth 1 or 2 (for import files,
  /// whose errors name the line of the offending element).
  private var elementStarts: [Int] = []
  /// Start offsets of the top-level object's member names, in order (duplicates included),
  /// when `recording` was asked for.
  private var memberStarts: [Int] = []
  private var recording: RecordingState = .done
  private var recordsMembers = false
  private enum RecordingState { case notYet, active, done }
  /// Nesting deeper than this is refused, so no body can exhaust the stack.
  public static let maximumDepth = 64

  /// Parses one JSON text that must fill `bytes` (surrounding white space allowed).
  ///
  /// - Throws: `JSONSyntaxError` at the first problem.
  public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
    var parser = JSONParser(bytes: bytes)
    return try parser.parseDocument()
  }

  /// Parses like `parse(_:)` and also returns the 1-based lines on which each element of the
  /// document's list starts (a top-level array, or the first array member of a top-level object),
  /// and on which each member name of a top-level object starts, in order: what an import names
  /// in its errors.
  public static func parseWithElementLines(_ bytes: [UInt8]) throws(JSONSyntaxError) -> (
    value: JSONValue, elementLines: [Int], memberLines: [Int]
  ) {
    var parser = JSONParser(bytes: bytes)
    parser.recording = .notYet
    parser.recordsMembers = true
    let value = try parser.parseDocument()
    return (value, lines(of: parser.elementStarts, in: bytes), lines(of: parser.memberStarts, in: bytes))
  }

  /// The 1-based line of each of `offsets` (ascending) in `bytes`.
  private static func lines(of offsets: [Int], in bytes: [UInt8]) -> [Int] {
    var lines: [Int] = []
    var line = 1
    var position = 0
    for start in offsets {
      while position < start {
        if bytes[position] == 0x0A { line += 1 }
        position += 1
      }
      lines.append(line)
    }
    return lines
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  /// One value filling the text, white space around it allowed.
  private mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
    skipWhitespace()
    if index == bytes.count { throw error("expected a JSON value but the text is empty", at: index) }
    let value = try parseValue(context: "at the start")
    skipWhitespace()
    if index < bytes.count {
      throw error("expected the end of the text after the value, found \(describeByte())", at: index)
    }
    return value
  }

  private mutating func skipWhitespace() {
    while index < bytes.count {
      switch bytes[index] {
      case 0x20, 0x09, 0x0A, 0x0D: index += 1
      default: return
      }
    }
  }

  private mutating func parseValue(context: String) throws(JSONSyntaxError) -> JSONValue {
    guard index < bytes.count else {
      throw error("expected a value \(context) but the text ended", at: index)
    }
    switch bytes[index] {
    case UInt8(ascii: "{"): return try parseObject()
    case UInt8(ascii: "["): return try parseArray()
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"):
      try expectLiteral("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try expectLiteral("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try expectLiteral("null")
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    case UInt8(ascii: "'"):
      throw error("expected a value \(context), found a single quote: JSON strings use double quotes", at: index)
    default:
      throw error("expected a value \(context), found \(describeByte())", at: index)
    }
  }

  private mutating func enter() throws(JSONSyntaxError) {
    depth += 1
    if depth > Self.maximumDepth {
      throw error("nesting is deeper than \(Self.maximumDepth) levels", at: index)
    }
  }

  private mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
    try enter()
    defer { depth -= 1 }
    index += 1  // {
    var members: [JSONMember] = []
    skipWhitespace()
    if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
      index += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard index < bytes.count else {
        throw error("expected a member name in double quotes but the text ended (is a '}' missing?)", at: index)
      }
      guard bytes[index] == UInt8(ascii: "\"") else {
        let hint = members.isEmpty ? "" : " (is there a comma too many before it?)"
        throw error("expected a member name in double quotes, found \(describeByte())\(hint)", at: index)
      }
      if recordsMembers && depth == 1 { memberStarts.append(index) }
      let key = try parseString()
      skipWhitespace()
      guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
        throw error("expected ':' after the member name \"\(key)\", found \(describeByte())", at: index)
      }
      index += 1
      skipWhitespace()
      let value = try parseValue(context: "for \"\(key)\"")
      members.append(JSONMember(key: key, value: value))
      skipWhitespace()
      guard index < bytes.count else {
        throw error("expected ',' or '}' after the value of \"\(key)\" but the text ended", at: index)
      }
      switch bytes[index] {
      case UInt8(ascii: ","):
        index += 1
      case UInt8(ascii: "}"):
        index += 1
        return .object(members)
      case UInt8(ascii: "\""):
        throw error(
          "expected ',' or '}' after the value of \"\(key)\", found '\"': a comma is missing between two members",
          at: index)
      default:
        throw error("expected ',' or '}' after the value of \"\(key)\", found \(describeByte())", at: index)
      }
    }
  }

  private mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
    try enter()
    defer { depth -= 1 }
    index += 1  // [
    var elements: [JSONValue] = []
    let records = recording == .notYet && depth <= 2
    if records { recording = .active }
    defer { if records { recording = .done } }
    skipWhitespace()
    if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
      index += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      if records { elementStarts.append(index) }
      elements.append(try parseValue(context: "in the array"))
      skipWhitespace()
      guard index < bytes.count else {
        throw error("expected ',' or ']' after an array element but the text ended", at: index)
      }
      switch bytes[index] {
      case UInt8(ascii: ","): index += 1
      case UInt8(ascii: "]"):
        index += 1
        return .array(elements)
      default:
        throw error("expected ',' or ']' after an array element, found \(describeByte())", at: index)
      }
    }
  }

  private mutating func parseString() throws(JSONSyntaxError) -> String {
    let start = index
    index += 1  // "
    var scratch: [UInt8] = []
    var runStart = index
    while true {
      guard index < bytes.count else {
        throw error("the string that starts here is not closed with '\"'", at: start)
      }
      let byte = bytes[index]
      if byte == UInt8(ascii: "\"") {
        scratch.append(contentsOf: bytes[runStart..<index])
        index += 1
        break
      }
      if byte < 0x20 {
        throw error("a control character (U+\(hex4(UInt16(byte)))) must be escaped inside a string", at: index)
      }
      if byte == UInt8(ascii: "\\") {
        scratch.append(contentsOf: bytes[runStart..<index])
        try parseEscape(into: &scratch)
        runStart = index
        continue
      }
      index += 1
    }
    guard let string = String(validating: scratch, as: UTF8.self) else {
      throw error("the string that starts here is not valid UTF-8", at: start)
    }
    return string
  }

  private mutating func parseEscape(into scratch: inout [UInt8]) throws(JSONSyntaxError) {
    let escapeStart = index
    index += 1
    guard index < bytes.count else { throw error("an escape sequence is cut off", at: escapeStart) }
    let letter = bytes[index]
    index += 1
    switch letter {
    case UInt8(ascii: "\""): scratch.append(0x22)
    case UInt8(ascii: "\\"): scratch.append(0x5C)
    case UInt8(ascii: "/"): scratch.append(0x2F)
    case UInt8(ascii: "b"): scratch.append(0x08)
    case UInt8(ascii: "f"): scratch.append(0x0C)
    case UInt8(ascii: "n"): scratch.append(0x0A)
    case UInt8(ascii: "r"): scratch.append(0x0D)
    case UInt8(ascii: "t"): scratch.append(0x09)
    case UInt8(ascii: "u"):
      var scalar = UInt32(try parseHex4(escapeStart: escapeStart))
      if (0xD800...0xDBFF).contains(scalar) {
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
          throw error("a high surrogate \\u escape must be followed by a low surrogate", at: escapeStart)
        }
        index += 2
        let low = UInt32(try parseHex4(escapeStart: escapeStart))
        guard (0xDC00...0xDFFF).contains(low) else {
          throw error("a high surrogate \\u escape must be followed by a low surrogate", at: escapeStart)
        }
        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
      } else if (0xDC00...0xDFFF).contains(scalar) {
        throw error("a low surrogate \\u escape has no high surrogate before it", at: escapeStart)
      }
      scratch.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
    default:
      throw error("'\\\(Character(Unicode.Scalar(letter)))' is not a JSON escape sequence", at: escapeStart)
    }
  }

  private mutating func parseHex4(escapeStart: Int) throws(JSONSyntaxError) -> UInt16 {
    guard index + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits", at: escapeStart) }
    var value: UInt16 = 0
    for _ in 0..<4 {
      let byte = bytes[index]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw error("a \\u escape needs four hex digits", at: escapeStart)
      }
      value = value << 4 | UInt16(digit)
      index += 1
    }
    return value
  }

  private mutating func parseNumber() throws(JSONSyntaxError) -> String {
    let start = index
    if bytes[index] == UInt8(ascii: "-") { index += 1 }
    guard index < bytes.count, isDigit(bytes[index]) else {
      throw error("expected a digit in the number, found \(describeByte())", at: index)
    }
    if bytes[index] == UInt8(ascii: "0") {
      index += 1
      if index < bytes.count, isDigit(bytes[index]) {
        throw error(
          "a number cannot have a leading zero (send numbers as written in JSON, or text as a string)", at: start)
      }
    } else {
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
      index += 1
      guard index < bytes.count, isDigit(bytes[index]) else {
        throw error("expected a digit after the decimal point, found \(describeByte())", at: index)
      }
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
      index += 1
      if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
      guard index < bytes.count, isDigit(bytes[index]) else {
        throw error("expected a digit in the exponent, found \(describeByte())", at: index)
      }
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
    let start = index
    let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
    for byte in expected {
      guard index < bytes.count, bytes[index] == byte else {
        let found = describeByte()
        throw error("expected the literal '\(literal)' here, but \(found) breaks it", at: start)
      }
      index += 1
    }
  }

  private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

  /// The byte at the cursor, in words: `'x'`, `the end of the text`, …
  private func describeByte() -> String {
    guard index < bytes.count else { return "the end of the text" }
    let byte = bytes[index]
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    if byte == 0x20 { return "a space" }
    if byte == 0x0A { return "a line break" }
    if byte < 0x20 || byte == 0x7F { return "the control character U+\(hex4(UInt16(byte)))" }
    return "a non-ASCII character"
  }

  private func hex4(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: 4 - digits.count) + digits
  }

  private func error(_ reason: String, at offset: Int) -> JSONSyntaxError {
    var line = 1
    var lineStart = 0
    for position in 0..<min(offset, bytes.count) where bytes[position] == 0x0A {
      line += 1
      lineStart = position + 1
    }
    // Columns count characters, not bytes: skip UTF-8 continuation bytes.
    var column = 1
    for position in lineStart..<min(offset, bytes.count) where bytes[position] & 0xC0 != 0x80 {
      column += 1
    }
    return JSONSyntaxError(line: line, column: column, offset: offset, reason: reason)
  }
}
