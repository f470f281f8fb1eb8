import ContactsCore
import Platform

/// `history.jsonl`: every change to a custom contact that compaction folded out of the journal,
/// one JSON line each, appended and never rewritten, so that a contact's history lasts as long as
/// the data does. Together with the journal's records it is the audit history:
///
///     {"seq":41,"at":"2026-12-01T12:00:00.000Z","by":"admin","op":"update","id":"…","contact":{…}}
///
/// Compaction appends (and `fsync`s) the journal's changes here before it writes the snapshot,
/// one compaction at a time (the compaction lock). Each change goes in exactly once however often
/// a compaction dies and is run again:
///
/// - a compaction that died after appending some or all of its changes runs again with a
///   generation at least as high: only changes after the file's last complete line are appended;
/// - one that died mid-append left a torn last line (no `\n`): it is cut off before appending,
///   and its change appended again whole (with `O_APPEND` the new line would otherwise continue
///   the torn one, and both be unreadable).
///
/// Readers still take each sequence number once (the journal's copy wins), so a reader racing an
/// append never shows a change twice either.
enum AuditHistory {
  /// Appends the custom changes of `entries` not yet in the file, then makes it durable. Only
  /// one caller at a time (the compaction lock, or the write lock of a dump load).
  static func append(_ entries: [Journal.Entry], to layout: StoreLayout) throws(StoreError) {
    let path = layout.path(StoreLayout.historyName)
    let end = try StoreError.wrapping { () throws(SystemError) in
      guard let file = try FileDescriptor.openIfPresent(path) else { return (sequence: UInt64?(0), length: Int64(0)) }
      return try lastCompleteLine(of: file)
    }
    guard let last = end.sequence else {
      // Appending all again would repeat changes: refuse, and let `check` name the file.
      throw .damaged(file: StoreLayout.historyName, line: nil, reason: "its last complete line is unreadable")
    }
    var lines: [UInt8] = []
    for entry in entries {
      for (change, sequence) in entry.record.contactChanges where sequence > last {
        lines += line(sequence: sequence, at: entry.record.timestamp, by: entry.record.user, change: change)
      }
    }
    try StoreError.wrapping { () throws(SystemError) in
      let file = try FileDescriptor(open: path, [.readWrite, .create, .append], mode: 0o600)
      let torn = try file.identity().size > end.length
      if torn { try file.truncate(to: end.length) }
      guard !lines.isEmpty || torn else { return }
      try file.writeAll(lines)
      try file.sync()
    }
  }

  /// The history of `id`: the file's entries and then the journal's, by sequence number.
  static func entries(of id: String, in layout: StoreLayout, journal: [Journal.Entry]) throws(StoreError)
    -> [HistoryEntry]
  {
    var found: [UInt64: HistoryEntry] = [:]
    let bytes = try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.contents(of: layout.path(StoreLayout.historyName))
    }
    let needle = Array("\"id\":".utf8)
    for line in (bytes ?? []).split(separator: UInt8(ascii: "\n")) where line.firstRange(of: needle) != nil {
      // A cheap filter first: only lines naming the id are parsed.
      guard line.firstRange(of: Array(id.utf8)) != nil, let value = try? JSONParser.parse(Array(line)),
        value["id"]?.stringValue == id, case .number(let seqText) = value["seq"], let sequence = UInt64(seqText),
        let at = value["at"]?.stringValue, let by = value["by"]?.stringValue, let op = value["op"]?.stringValue
      else { continue }
      let contact = value["contact"].flatMap { try? Contact(stored: $0) }.map(\.json)
      found[sequence] = HistoryEntry(sequence: sequence, at: at, by: by, op: op, contact: contact)
    }
    for entry in journal {
      for (change, sequence) in entry.record.contactChanges where change.contactID == id {
        let contact: [UInt8]? =
          switch change {
          case .create(let contact), .update(let contact): contact.json
          case .delete: nil
          }
        found[sequence] = HistoryEntry(
          sequence: sequence, at: entry.record.timestamp, by: entry.record.user, op: change.operationName,
          contact: contact)
      }
    }
    return found.values.sorted { $0.sequence < $1.sequence }
  }

  /// One line of the file: the same object as a change of a dump (`ContactsDump.line`).
  static func line(sequence: UInt64, at: String, by: String, change: ContactChange) -> [UInt8] {
    ContactsDump.line(ContactsDump.Change(sequence: sequence, at: at, by: by, change: change)) + [UInt8(ascii: "\n")]
  }

  /// Every change of the history, the file's and then the journal's, up to `generation`, by
  /// sequence number (for `contacts-fcgi export`).
  static func all(in layout: StoreLayout, journal: [Journal.Entry], upTo generation: UInt64) throws(StoreError)
    -> [ContactsDump.Change]
  {
    var found: [UInt64: ContactsDump.Change] = [:]
    let bytes = try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.contents(of: layout.path(StoreLayout.historyName))
    }
    var lineNumber = 0
    for line in (bytes ?? []).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
      lineNumber += 1
      guard !line.isEmpty else { continue }
      guard let value = try? JSONParser.parse(Array(line)), case .number(let seqText) = value["seq"],
        let sequence = UInt64(seqText), let at = value["at"]?.stringValue, let by = value["by"]?.stringValue,
        let op = value["op"]?.stringValue, let change = JournalRecord.change(from: value, operation: op)
      else {
        // A torn last line (a compaction that died mid-append) is appended again from the journal.
        if line.endIndex == bytes?.endIndex { continue }
        throw .damaged(file: StoreLayout.historyName, line: lineNumber, reason: "an unreadable change")
      }
      if sequence <= generation {
        found[sequence] = ContactsDump.Change(sequence: sequence, at: at, by: by, change: change)
      }
    }
    for entry in journal {
      for (change, sequence) in entry.record.contactChanges where sequence <= generation {
        found[sequence] = ContactsDump.Change(
          sequence: sequence, at: entry.record.timestamp, by: entry.record.user, change: change)
      }
    }
    return found.values.sorted { $0.sequence < $1.sequence }
  }

  /// The sequence number of the file's last complete line (0 when there is none), and where
  /// that line ends: anything after it is a torn line. Reads only the file's end when it can.
  /// The sequence is `nil` when that line is unreadable.
  static func lastCompleteLine(of file: borrowing FileDescriptor) throws(SystemError) -> (
    sequence: UInt64?, length: Int64
  ) {
    let size = try file.identity().size
    var start = max(0, size - 65_536)
    while true {
      let bytes = try file.readToEnd(from: start)
      let newline = UInt8(ascii: "\n")
      guard let lastNewline = bytes.lastIndex(of: newline) else {
        if start == 0 { return (0, 0) }
        start = 0  // one line longer than the chunk: read it all
        continue
      }
      let lineStart = bytes[..<lastNewline].lastIndex(of: newline).map { $0 + 1 }
      if lineStart == nil && start > 0 {
        start = 0
        continue
      }
      let line = bytes[(lineStart ?? 0)..<lastNewline]
      guard let value = try? JSONParser.parse(Array(line)), case .number(let text) = value["seq"] else {
        return (nil, start + Int64(lastNewline) + 1)
      }
      return (UInt64(text), start + Int64(lastNewline) + 1)
    }
  }
}
