import ContactsCore

/// One line of `journal.jsonl`. Every record carries its sequence number (the generation it
/// creates), the time and the acting user, which makes the journal an audit trail too.
struct JournalRecord: Equatable {
  enum Operation: Equatable {
    case change(ContactChange)
    /// An import replaced every contact of `type` with those in `file`.
    case directoryImport(type: ContactType, file: String, count: Int)
  }

  /// The sequence number of the record's last change: the generation it creates.
  var sequence: UInt64
  /// The sequence number of its first change: an import numbers each contact it adds, changes
  /// or removes, so one record can hold several (`"first"` in the line when it does).
  var firstSequence: UInt64
  var timestamp: String
  var user: String
  var operation: Operation

  /// The line as written: JSON and a final `\n` (whose presence marks the line complete).
  var line: [UInt8] {
    var writer = JSONWriter(reservingCapacity: 256)
    writer.append(raw: "{")
    writer.append(key: "seq", integer: sequence, first: true)
    if firstSequence != sequence { writer.append(key: "first", integer: firstSequence) }
    writer.append(key: "at", string: timestamp)
    writer.append(key: "by", string: user)
    switch operation {
    case .change(.create(let contact)):
      writer.append(raw: ",\"op\":\"create\",\"contact\":")
      writer.append(raw: contact.json)
    case .change(.update(let contact)):
      writer.append(raw: ",\"op\":\"update\",\"contact\":")
      writer.append(raw: contact.json)
    case .change(.delete(let id)):
      writer.append(key: "op", string: "delete")
      writer.append(key: "id", string: id)
    case .directoryImport(let type, let file, let count):
      writer.append(key: "op", string: "import")
      writer.append(key: "type", string: type.rawValue)
      writer.append(key: "file", string: file)
      writer.append(key: "count", integer: count)
    }
    writer.append(raw: "}\n")
    return writer.bytes
  }

  /// Reads one line (without its `\n`); `nil` when it is not a record this version wrote.
  init?(line: ArraySlice<UInt8>) {
    guard let value = try? JSONParser.parse(Array(line)),
      case .number(let seqText) = value["seq"], let sequence = UInt64(seqText),
      let timestamp = value["at"]?.stringValue, let user = value["by"]?.stringValue,
      let operation = value["op"]?.stringValue
    else { return nil }
    self.sequence = sequence
    if case .number(let firstText) = value["first"] {
      guard let first = UInt64(firstText), first <= sequence else { return nil }
      firstSequence = first
    } else {
      firstSequence = sequence
    }
    self.timestamp = timestamp
    self.user = user
    switch operation {
    case "create", "update":
      guard let stored = value["contact"], let contact = try? Contact(stored: stored) else { return nil }
      self.operation = .change(operation == "create" ? .create(contact) : .update(contact))
    case "delete":
      guard let id = value["id"]?.stringValue else { return nil }
      self.operation = .change(.delete(id: id))
    case "import":
      guard let typeName = value["type"]?.stringValue, let type = ContactType(rawValue: typeName),
        let file = value["file"]?.stringValue, case .number(let countText) = value["count"], let count = Int(countText)
      else { return nil }
      self.operation = .directoryImport(type: type, file: file, count: count)
    default:
      return nil
    }
  }

  init(sequence: UInt64, firstSequence: UInt64? = nil, timestamp: String, user: String, operation: Operation) {
    self.sequence = sequence
    self.firstSequence = firstSequence ?? sequence
    self.timestamp = timestamp
    self.user = user
    self.operation = operation
  }

  /// The first line of every journal: which snapshot generation it continues from.
  static func header(base: UInt64) -> [UInt8] { Array("{\"journal\":1,\"base\":\(base)}\n".utf8) }

  static func base(fromHeader line: ArraySlice<UInt8>) -> UInt64? {
    guard let value = try? JSONParser.parse(Array(line)), case .number(let text) = value["base"] else { return nil }
    return UInt64(text)
  }
}
