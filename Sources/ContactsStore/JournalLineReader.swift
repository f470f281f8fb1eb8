import ContactsCore

/// Reads a journal line exactly as `JournalRecord.line` writes it, straight from its bytes.
///
/// A worker replays up to a quarter of the snapshot's size of journal when it starts; through
/// the general `JSONParser` (a tree of values, then a record from it) that cost about as much
/// as reading the snapshot. This reader accepts only the writer's own shape: the members in the
/// writer's order, no blanks, strings that are valid UTF-8 without control characters, numbers
/// without sign, fraction or leading zero. Anything else, it gives up (`nil`) and
/// `JournalRecord(line:)` reads the line with the general parser, which decides. So a line it
/// accepts is read as the general parser would read it, and damage is judged as before.
struct JournalLineReader {
  private let bytes: UnsafeBufferPointer<UInt8>
  private var index = 0

  private init(_ bytes: UnsafeBufferPointer<UInt8>) {
    self.bytes = bytes
  }

  /// The record on `line` (without its `\n`), or `nil` when it is not in the writer's shape.
  static func record(_ line: ArraySlice<UInt8>) -> JournalRecord? {
    line.withUnsafeBufferPointer { buffer in
      var reader = JournalLineReader(buffer)
      return reader.record()
    }
  }

  private mutating func record() -> JournalRecord? {
    guard take("{\"seq\":"), let sequence = integer() else { return nil }
    var firstSequence = sequence
    if take(",\"first\":") {
      guard let first = integer(), first <= sequence else { return nil }
      firstSequence = first
    }
    guard take(",\"at\":"), let timestamp = string(), take(",\"by\":"), let user = string(),
      take(",\"op\":"), let operationName = string()
    else { return nil }
    let operation: JournalRecord.Operation
    switch operationName {
    case "batch":
      guard take(",\"changes\":[") else { return nil }
      var changes: [ContactChange] = []
      repeat {
        guard take("{\"op\":"), let name = string(), take(","), let change = change(operation: name), take("}") else {
          return nil
        }
        changes.append(change)
      } while take(",")
      guard take("]"), !changes.isEmpty, UInt64(changes.count) == sequence - firstSequence + 1 else { return nil }
      operation = .changes(changes)
    case "import":
      guard take(",\"type\":"), let typeName = string(), let type = ContactType(rawValue: typeName),
        take(",\"file\":"), let file = string(), take(",\"count\":"), let count = integer(), count <= Int.max
      else { return nil }
      operation = .directoryImport(type: type, file: file, count: Int(count))
    default:
      guard take(","), let change = change(operation: operationName) else { return nil }
      operation = .change(change)
    }
    var answer: IdempotentAnswer?
    if take(",\"idem\":") {
      guard take("{\"user\":"), let user = string(), take(",\"key\":"), let key = string(),
        take(",\"hash\":"), let hash = string(), take(",\"status\":"), let status = integer(), status <= Int.max,
        take(",\"body\":"), let body = string(), take(",\"t\":"), let time = integer(), time <= Int.max, take("}")
      else { return nil }
      answer = IdempotentAnswer(
        user: user, key: key, requestHash: hash, status: Int(status), body: Array(body.utf8), createdAt: Int(time))
    }
    guard take("}"), index == bytes.count else { return nil }
    return JournalRecord(
      sequence: sequence, firstSequence: firstSequence, timestamp: timestamp, user: user, operation: operation,
      idempotentAnswer: answer)
  }

  /// The members after `"op":…,`: `"contact":{…}` for a create or update, `"id":"…"` for a
  /// delete.
  private mutating func change(operation: String) -> ContactChange? {
    switch operation {
    case "create", "update":
      guard take("\"contact\":"), let contact = contact() else { return nil }
      return operation == "create" ? .create(contact) : .update(contact)
    case "delete":
      guard take("\"id\":"), let id = string() else { return nil }
      return .delete(id: id)
    default:
      return nil
    }
  }

  /// A contact object, only when `Contact(stored:)` would take it as it is: every attribute
  /// once, a type spelled as the store spells it, an id, a name without blanks around it, no
  /// empty phone number, user attributes only on users.
  private mutating func contact() -> Contact? {
    guard take("{") else { return nil }
    var fields = [String?](repeating: nil, count: ContactAttribute.allCases.count)
    repeat {
      guard let key = string(), let attribute = ContactAttribute(rawValue: key), take(":"), let value = string()
      else { return nil }
      let slot = attribute.position
      guard fields[slot] == nil else { return nil }
      fields[slot] = value
    } while take(",")
    guard take("}") else { return nil }
    func field(_ attribute: ContactAttribute) -> String? { fields[attribute.position] }
    guard let typeName = field(.type), let type = ContactType(rawValue: typeName), let id = field(.id), !id.isEmpty,
      let name = field(.name), !name.isEmpty, name.trimmingWhitespace() == name, field(.phoneNumber) != ""
    else { return nil }
    let userName = field(.userName)
    let firstName = field(.firstName)
    let lastName = field(.lastName)
    let employeeId = field(.employeeId)
    guard type == .user || (userName == nil && firstName == nil && lastName == nil && employeeId == nil) else {
      return nil
    }
    return Contact(
      id: id, type: type, name: name, phoneNumber: field(.phoneNumber), userName: userName, firstName: firstName,
      lastName: lastName, employeeId: employeeId)
  }

  // MARK: Pieces

  /// Takes `text` (ASCII) when the bytes at `index` are exactly it.
  private mutating func take(_ text: StaticString) -> Bool {
    let count = text.utf8CodeUnitCount
    guard bytes.count - index >= count else { return false }
    let expected = text.utf8Start
    for offset in 0..<count where bytes[index + offset] != expected[offset] { return false }
    index += count
    return true
  }

  /// A string; one with an escape is decoded by `JSONParser`, as the general reading would.
  /// `nil` for a control character, invalid UTF-8 or a string that is not closed.
  private mutating func string() -> String? {
    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
    let start = index + 1
    var end = start
    var ascii = true
    var escaped = false
    while end < bytes.count {
      let byte = bytes[end]
      if byte == UInt8(ascii: "\"") { break }
      if byte < 0x20 { return nil }
      if byte >= 0x80 { ascii = false }
      if byte == UInt8(ascii: "\\") {
        escaped = true
        end += 1
      }
      end += 1
    }
    guard end < bytes.count else { return nil }
    index = end + 1
    let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
    if escaped {
      return (try? JSONParser.parse(Array(bytes[(start - 1)...end])))?.stringValue
    }
    return ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
  }

  /// A number as the writer writes one: digits, no leading zero, no overflow.
  private mutating func integer() -> UInt64? {
    let start = index
    var value: UInt64 = 0
    while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
      let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
      let (sum, carry) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
      guard !overflow, !carry else { return nil }
      value = sum
      index += 1
    }
    guard index > start, bytes[start] != UInt8(ascii: "0") || index == start + 1 else { return nil }
    return value
  }
}
