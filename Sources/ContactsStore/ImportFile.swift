public import ContactsCore

/// Users and queues as an admin supplies them to `contacts-fcgi import`: JSON (an array of
/// contact objects, or an object holding one array) or, for users, CSV with a header row.
/// The whole file is validated before anything is applied; the first problem is reported with
/// its line and field.
public enum ImportFile {
  /// The file formats an import reads.
  public enum Format: String, CaseIterable, Sendable {
    case json, csv
  }

  /// Characters a directory id may hold: it appears in URLs as `/contacts/{id}`.
  static func isValidID(_ id: String) -> Bool {
    (1...128).contains(id.utf8.count)
      && id.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
          UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
          UInt8(ascii: "~"), UInt8(ascii: "@"):
          true
        default: false
        }
      }
  }

  /// Parses and validates a whole import file.
  ///
  /// - Throws: `StoreError.invalidImport` with `line N, field F: reason`.
  public static func parse(_ bytes: [UInt8], type: ContactType, format: Format) throws(StoreError) -> [Contact] {
    try parseRows(bytes, type: type, format: format).map(\.contact)
  }

  /// `parse`, each contact with the line its record starts on (for the store's refusals,
  /// which name only an id).
  public static func parseRows(_ bytes: [UInt8], type: ContactType, format: Format) throws(StoreError) -> [(
    line: Int, contact: Contact
  )] {
    precondition(type != .custom)
    let rows: [(line: Int, value: JSONValue)]
    switch format {
    case .json: rows = try jsonRows(bytes, type: type)
    case .csv:
      guard type == .user else { throw .invalidImport("CSV import is for users; import queues as JSON") }
      rows = try csvRows(bytes)
    }
    var contacts: [(line: Int, contact: Contact)] = []
    var lineOfID: [String: Int] = [:]
    for row in rows {
      // The same characters custom contacts refuse (see `TextRules`), named by line and field.
      if case .object(let members) = row.value {
        for member in members {
          guard case .string(let text) = member.value, let problem = TextRules.contactTextProblem(in: text) else {
            continue
          }
          throw .invalidImport("line \(row.line), field \(member.key): \(problem)")
        }
      }
      let contact: Contact
      do {
        contact = try Contact(stored: row.value, defaultType: type)
      } catch {
        throw .invalidImport(
          "line \(row.line), field \(error.field.isEmpty ? "(record)" : error.field): \(error.message)")
      }
      guard contact.type == type else {
        throw .invalidImport("line \(row.line), field type: must be \(type.rawValue) in a \(type.rawValue) import")
      }
      guard isValidID(contact.id) else {
        throw .invalidImport(
          "line \(row.line), field id: must be 1 to 128 characters of letters, digits and - _ . ~ @ (it is used in URLs)"
        )
      }
      if contact.id.hasPrefix("_") {
        throw .invalidImport(
          "line \(row.line), field id: ids beginning with _ are reserved (/contacts/_changes, _events, _bulk)")
      }
      if contact.id.utf8.count == 32
        && contact.id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
      {
        throw .invalidImport("line \(row.line), field id: 32 lowercase hex digits are reserved for custom contacts")
      }
      if let first = lineOfID[contact.id] {
        throw .invalidImport("line \(row.line), field id: '\(contact.id)' is already used on line \(first)")
      }
      lineOfID[contact.id] = row.line
      contacts.append((row.line, contact))
    }
    return contacts
  }

  private static func jsonRows(_ bytes: [UInt8], type: ContactType) throws(StoreError) -> [(
    line: Int, value: JSONValue
  )] {
    let value: JSONValue
    let lines: [Int]
    let memberLines: [Int]
    do { (value, lines, memberLines) = try JSONParser.parseWithElementLines(bytes) } catch {
      throw .invalidImport("line \(error.line), column \(error.column): \(error.reason)")
    }
    let elements: [JSONValue]
    switch value {
    case .array(let array): elements = array
    case .object(let members):
      let key = type == .user ? "users" : "queues"
      let expected = "the object holds one member, \"\(key)\": [...]"
      guard let first = members.first else {
        throw .invalidImport("line 1: expected an array of \(key), or \(expected)")
      }
      // Each member named by its line and key, as a record's fields are.
      for (index, member) in members.enumerated() {
        let line = memberLines[index]
        if members[..<index].contains(where: { $0.key == member.key }) {
          throw .invalidImport("line \(line), field \(member.key): appears more than once")
        }
        if member.key != key && member.key != "contacts" || index > 0 {
          throw .invalidImport(
            "line \(line), field \(member.key): not expected in \(type == .user ? "a users" : "a queues") import; \(expected)"
          )
        }
      }
      guard case .array(let array) = first.value else {
        throw .invalidImport(
          "line \(memberLines[0]), field \(first.key): expected an array of \(key), not \(first.value.typeDescription)"
        )
      }
      elements = array
    default:
      throw .invalidImport("line 1: expected an array of contacts, not \(value.typeDescription)")
    }
    return zip(lines, elements).map { ($0, $1) }
  }

  /// Where the first byte that is not UTF-8 is: its line (1-based), the offset its line starts
  /// at, its own offset, and the byte.
  static func firstNonUTF8(_ bytes: [UInt8]) -> (line: Int, lineStart: Int, offset: Int, byte: UInt8)? {
    var iterator = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var offset = 0
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid(let scalar): offset += scalar.count
      case .error:
        let lineStart = bytes[..<offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        return (bytes[..<offset].count(where: { $0 == 0x0A }) + 1, lineStart, offset, bytes[offset])
      case .emptyInput: return nil
      }
    }
  }

  /// RFC 4180 CSV: a header row naming contact fields, then one user per row.
  private static func csvRows(_ bytes: [UInt8]) throws(StoreError) -> [(line: Int, value: JSONValue)] {
    guard let text = String(validating: bytes, as: UTF8.self) else {
      guard let bad = firstNonUTF8(bytes) else { throw .invalidImport("line 1: the file is not UTF-8") }
      // The field, from the header and the commas before the byte (quoted commas aside).
      let header = bytes.prefix { $0 != 0x0A }
      let names = String(decoding: header, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
        .map { name in String(name.filter { !["\u{FEFF}", "\r", "\"", " "].contains($0) }) }
      var column = 0
      var quoted = false
      for byte in bytes[bad.lineStart..<bad.offset] {
        if byte == UInt8(ascii: "\"") { quoted.toggle() }
        if byte == UInt8(ascii: ",") && !quoted { column += 1 }
      }
      let field = bad.line > 1 && column < names.count ? ", field \(names[column])" : ""
      throw .invalidImport(
        "line \(bad.line)\(field): not UTF-8 (the byte 0x\(String(bad.byte, radix: 16, uppercase: true)) at column \(bad.offset - bad.lineStart + 1)); save the file as UTF-8"
      )
    }
    let records = try CSV.records(text)
    guard let header = records.first else { throw .invalidImport("line 1: the file is empty; expected a header row") }
    for (column, name) in header.fields.enumerated() {
      guard ContactAttribute(rawValue: name) != nil else {
        throw .invalidImport(
          "line 1, field \(name.isEmpty ? "#\(column + 1)" : name): not a contact field; allowed: \(ContactAttribute.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      if header.fields[..<column].contains(name) { throw .invalidImport("line 1, field \(name): appears twice") }
    }
    var rows: [(line: Int, value: JSONValue)] = []
    for record in records.dropFirst() {
      if record.fields == [""] { continue }  // a blank line
      guard record.fields.count == header.fields.count else {
        throw .invalidImport(
          "line \(record.line): has \(record.fields.count) fields, the header has \(header.fields.count)")
      }
      let members = zip(header.fields, record.fields).filter { !$0.1.isEmpty }.map {
        JSONMember(key: $0.0, value: .string($0.1))
      }
      rows.append((record.line, .object(members)))
    }
    return rows
  }
}

/// The smallest RFC 4180 reader that does the job: quoted fields, `""` escapes, CRLF or LF.
enum CSV {
  struct Record {
    var line: Int
    var fields: [String]
  }

  static func records(_ text: String) throws(StoreError) -> [Record] {
    var records: [Record] = []
    var fields: [String] = []
    var field = ""
    var line = 1
    var recordLine = 1
    var inQuotes = false
    var characters = Array(text.unicodeScalars)[...]
    if characters.first == "\u{FEFF}" { characters = characters.dropFirst() }
    var index = characters.startIndex
    while index < characters.endIndex {
      let character = characters[index]
      index += 1
      if inQuotes {
        if character == "\"" {
          if index < characters.endIndex && characters[index] == "\"" {
            field.unicodeScalars.append("\"")
            index += 1
          } else {
            inQuotes = false
          }
        } else {
          if character == "\n" { line += 1 }
          field.unicodeScalars.append(character)
        }
        continue
      }
      switch character {
      case "\"":
        guard field.isEmpty else { throw .invalidImport("line \(line): a quote inside an unquoted field") }
        inQuotes = true
      case ",":
        fields.append(field)
        field = ""
      case "\r":
        continue
      case "\n":
        fields.append(field)
        records.append(Record(line: recordLine, fields: fields))
        fields = []
        field = ""
        line += 1
        recordLine = line
      default:
        field.unicodeScalars.append(character)
      }
    }
    if inQuotes { throw .invalidImport("line \(recordLine): a quoted field is not closed") }
    if !field.isEmpty || !fields.isEmpty {
      fields.append(field)
      records.append(Record(line: recordLine, fields: fields))
    }
    return records
  }
}
