import ContactsCore

/// One line of `journal.jsonl`. Every record carries its sequence number (the generation it
/// creates), the time and the acting user, which makes the journal an audit trail too.
struct JournalRecord: Equatable {
  enum Operation: Equatable {
    case change(ContactChange)
    /// Several changes committed together (a bulk request), numbered `firstSequence…sequence`.
    case changes([ContactChange])
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
  /// The answer kept for the request's `Idempotency-Key`, written with the change it guards.
  var idempotentAnswer: IdempotentAnswer?

  /// Each change to a custom contact with its sequence number (none for an import).
  var contactChanges: [(change: ContactChange, sequence: UInt64)] {
    switch operation {
    case .change(let change): [(change, sequence)]
    case .changes(let changes): changes.enumerated().map { ($0.element, firstSequence + UInt64($0.offset)) }
    case .directoryImport: []
    }
  }

  /// The line as written: JSON and a final `\n` (whose presence marks the line complete).
  var line: [UInt8] {
    var writer = JSONWriter(reservingCapacity: 256)
    writer.append(raw: "{")
    writer.append(key: "seq", integer: sequence, first: true)
    if firstSequence != sequence { writer.append(key: "first", integer: firstSequence) }
    writer.append(key: "at", string: timestamp)
    writer.append(key: "by", string: user)
    switch operation {
    case .change(let change):
      writer.append(raw: ",")
      Self.appendMembers(of: change, to: &writer)
    case .changes(let changes):
      writer.append(raw: ",\"op\":\"batch\",\"changes\":[")
      for (index, change) in changes.enumerated() {
        writer.append(raw: index == 0 ? "{" : ",{")
        Self.appendMembers(of: change, to: &writer)
        writer.append(raw: "}")
      }
      writer.append(raw: "]")
    case .directoryImport(let type, let file, let count):
      writer.append(key: "op", string: "import")
      writer.append(key: "type", string: type.rawValue)
      writer.append(key: "file", string: file)
      writer.append(key: "count", integer: count)
    }
    if let answer = idempotentAnswer {
      writer.append(raw: ",\"idem\":")
      answer.append(to: &writer)
    }
    writer.append(raw: "}\n")
    return writer.bytes
  }

  /// `"op":"create","contact":{…}` (and likewise for update), `"op":"delete","id":"…"`.
  static func appendMembers(of change: ContactChange, to writer: inout JSONWriter) {
    switch change {
    case .create(let contact), .update(let contact):
      writer.append(key: "op", string: change.operationName, first: true)
      writer.append(raw: ",\"contact\":")
      writer.append(raw: contact.json)
    case .delete(let id):
      writer.append(key: "op", string: "delete", first: true)
      writer.append(key: "id", string: id)
    }
  }

  /// The change of a `{"op":…,"contact":…}` / `{"op":"delete","id":…}` object.
  static func change(from value: JSONValue, operation: String) -> ContactChange? {
    switch operation {
    case "create", "update":
      guard let stored = value["contact"], let contact = try? Contact(stored: stored) else { return nil }
      return operation == "create" ? .create(contact) : .update(contact)
    case "delete":
      return value["id"]?.stringValue.map { .delete(id: $0) }
    default:
      return nil
    }
  }

  /// Reads one line (without its `\n`); `nil` when it is not a record this version wrote.
  init?(line: ArraySlice<UInt8>) {
    // The writer's own lines, fast; anything else through the general parser.
    guard let record = JournalLineReader.record(line) ?? JournalRecord(parsing: line) else { return nil }
    self = record
  }

  /// `init(line:)` through the general JSON parser.
  init?(parsing line: ArraySlice<UInt8>) {
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
    case "create", "update", "delete":
      guard let change = Self.change(from: value, operation: operation) else { return nil }
      self.operation = .change(change)
    case "batch":
      guard case .array(let items) = value["changes"] else { return nil }
      var changes: [ContactChange] = []
      for item in items {
        guard let name = item["op"]?.stringValue, let change = Self.change(from: item, operation: name) else {
          return nil
        }
        changes.append(change)
      }
      guard !changes.isEmpty, UInt64(changes.count) == sequence - firstSequence + 1 else { return nil }
      self.operation = .changes(changes)
    case "import":
      guard let typeName = value["type"]?.stringValue, let type = ContactType(rawValue: typeName),
        let file = value["file"]?.stringValue, case .number(let countText) = value["count"], let count = Int(countText)
      else { return nil }
      self.operation = .directoryImport(type: type, file: file, count: count)
    default:
      return nil
    }
    if let idem = value["idem"] {
      guard let user = idem["user"]?.stringValue, let key = idem["key"]?.stringValue,
        let hash = idem["hash"]?.stringValue, case .number(let statusText) = idem["status"],
        let status = Int(statusText), let body = idem["body"]?.stringValue, case .number(let time) = idem["t"],
        let createdAt = Int(time)
      else { return nil }
      idempotentAnswer = IdempotentAnswer(
        user: user, key: key, requestHash: hash, status: status, body: Array(body.utf8), createdAt: createdAt)
    }
  }

  init(
    sequence: UInt64, firstSequence: UInt64? = nil, timestamp: String, user: String, operation: Operation,
    idempotentAnswer: IdempotentAnswer? = nil
  ) {
    self.idempotentAnswer = idempotentAnswer
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

extension IdempotentAnswer {
  /// `{"user":…,"key":…,"hash":…,"status":…,"body":"…","t":…}`: how the journal and the
  /// snapshot keep an answer.
  func append(to writer: inout JSONWriter) {
    writer.append(raw: "{")
    writer.append(key: "user", string: user, first: true)
    writer.append(key: "key", string: key)
    writer.append(key: "hash", string: requestHash)
    writer.append(key: "status", integer: status)
    writer.append(key: "body", string: String(decoding: body, as: UTF8.self))
    writer.append(key: "t", integer: createdAt)
    writer.append(raw: "}")
  }
}
