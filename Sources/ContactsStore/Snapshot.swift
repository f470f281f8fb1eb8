import ContactsCore
import Platform

/// `snapshot.json`: the custom contacts with their versions, which directory files hold the
/// users and queues, and the latest changes (the change feed's memory across compactions), all
/// at one generation.
///
///     {"format":2,"generation":41,"files":{"User":"users-7.json"},
///      "custom":[{"v":40,"c":{"id":"…","name":"…","type":"Custom","phoneNumber":"…"}}],
///      "changes":{"horizon":30,"entries":[{"s":31,"c":{…}},{"s":32,"i":"…"}]}}
///
/// Format 1 (no `changes`) is still read: its change log starts at its generation.
struct Snapshot {
  var generation: UInt64
  var directoryFiles: [ContactType: String]
  var custom: [IndexedContact]
  /// The change log's horizon and entries; `nil` in a format 1 snapshot.
  var changes: (horizon: UInt64, entries: [StoredChange])?
  /// Answers kept for idempotency keys (the last 24 hours').
  var answers: [IdempotentAnswer] = []

  static func encode(_ state: DirectoryState, directoryFiles: [ContactType: String]) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 64 + state.count * 120)
    writer.append(raw: "{\"format\":2,\"generation\":")
    writer.append(integer: state.generation)
    writer.append(raw: ",\"files\":{")
    for (index, (type, file)) in directoryFiles.sorted(by: { $0.key.rawValue < $1.key.rawValue }).enumerated() {
      if index > 0 { writer.append(raw: ",") }
      writer.append(string: type.rawValue)
      writer.append(raw: ":")
      writer.append(string: file)
    }
    writer.append(raw: "},\"custom\":[")
    var first = true
    for entry in state.entries where entry.type == .custom {
      if !first { writer.append(raw: ",\n") }
      first = false
      writer.append(raw: "{\"v\":")
      writer.append(integer: entry.version)
      writer.append(raw: ",\"c\":")
      writer.append(raw: entry.json)
      writer.append(raw: "}")
    }
    writer.append(raw: "],\n\"changes\":{\"horizon\":")
    writer.append(integer: state.changeLog.horizon)
    writer.append(raw: ",\"entries\":[")
    for (index, change) in state.changeLog.all.enumerated() {
      writer.append(raw: index > 0 ? ",\n{\"s\":" : "{\"s\":")
      writer.append(integer: change.sequence)
      if let contact = change.contact {
        writer.append(raw: ",\"c\":")
        writer.append(raw: contact.json)
      } else {
        writer.append(raw: ",\"i\":")
        writer.append(string: change.id)
      }
      writer.append(raw: "}")
    }
    writer.append(raw: "]},\n\"answers\":[")
    for (index, answer) in state.idempotentAnswers.values.sorted(by: { $0.createdAt < $1.createdAt }).enumerated() {
      if index > 0 { writer.append(raw: ",\n") }
      answer.append(to: &writer)
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }

  static func read(_ layout: StoreLayout) throws(StoreError) -> Snapshot {
    let bytes = try StoreError.wrapping { () throws(SystemError) in try FileSystem.contents(of: layout.snapshot) }
    guard let bytes else {
      throw .system(SystemError(syscall: "open", path: layout.snapshot, code: SystemError.noSuchFile))
    }
    let read = try StoredContactsReader.reading(bytes, file: StoreLayout.snapshotName) { (reader) throws(StoreError) in
      try reader.snapshot()
    }
    return Snapshot(
      generation: read.generation, directoryFiles: read.files, custom: read.custom, changes: read.changes,
      answers: read.answers)
  }
}

/// `users-<g>.json` / `queues-<g>.json`: `{"type":"User","contacts":[…]}`, written once by an
/// import (or by `import dump`) and never changed.
///
/// Every contact is at the file's generation `g`, except one written `{"v":V,"c":{…}}`, which is
/// at version `V`: `import dump` keeps that way the versions of contacts that PostgreSQL gave
/// versions of their own (it numbers each contact an import changes).
enum DirectoryFile {
  /// - Parameter generation: the file's generation; a contact whose version differs is written
  ///   with its own (`nil`, an import: every contact is at the file's generation).
  static func encode(_ contacts: [Contact], type: ContactType, generation: UInt64? = nil) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 64 + contacts.count * 160)
    writer.append(raw: "{\"type\":")
    writer.append(string: type.rawValue)
    writer.append(raw: ",\"contacts\":[")
    for (index, contact) in contacts.enumerated() {
      if index > 0 { writer.append(raw: ",\n") }
      var typed = contact
      typed.type = type
      if let generation, contact.version != generation {
        writer.append(raw: "{\"v\":")
        writer.append(integer: contact.version)
        writer.append(raw: ",\"c\":")
        writer.append(raw: typed.json)
        writer.append(raw: "}")
      } else {
        writer.append(raw: typed.json)
      }
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }

  /// The contacts of a directory file, each at `version` (the generation of its import) unless
  /// written with a version of its own.
  static func read(_ path: String, type: ContactType, version: UInt64) throws(StoreError) -> [IndexedContact] {
    let bytes = try StoreError.wrapping { () throws(SystemError) in try FileSystem.contents(of: path) }
    guard let bytes else { throw .system(SystemError(syscall: "open", path: path, code: SystemError.noSuchFile)) }
    return try StoredContactsReader.reading(bytes, file: String(path.split(separator: "/").last ?? "")) {
      (reader) throws(StoreError) in try reader.directoryFile(type: type, version: version)
    }
  }

  /// The generation a directory file was imported at, from its name (`users-<g>.json`).
  static func generation(ofFile name: String) -> UInt64 {
    UInt64(name.split(separator: "-").last?.split(separator: ".").first ?? "") ?? 0
  }
}

/// A change of a snapshot's change log as read, its contact not yet read: most are the contact
/// as it still is, whose indexed form the loader shares, and a loader whose journal holds many
/// changes keeps none of them (see `ChangeLog.init(capacity:horizon:restoring:…)`).
struct StoredChange {
  var sequence: UInt64
  var id: String
  /// Where the contact after the change is stored (the snapshot's bytes, the object's range in
  /// them, the file's name); `nil` for a deletion. Checked as a contact is, but not read.
  var contact: (storage: [UInt8], bytes: Range<Int>, file: String)?

  /// The change-log entry. Its contact is `current(id)` when that is this very contact (the
  /// same version and the same JSON bytes, which hold every other attribute), else read from
  /// the snapshot and indexed.
  ///
  /// - Throws: `StoreError.damaged` when the stored contact cannot be read.
  func entry(current: (String) -> IndexedContact?) throws(StoreError) -> ChangeEntry {
    guard let (storage, bytes, file) = contact else { return ChangeEntry(sequence: sequence, id: id, contact: nil) }
    if let shared = current(id), shared.version == sequence, shared.hasJSON(storage[bytes]) {
      return ChangeEntry(sequence: sequence, id: id, contact: shared)
    }
    let sequence = sequence
    let indexed = try StoredContactsReader.reading(storage, file: file) { (reader) throws(StoreError) in
      reader.index = bytes.lowerBound
      return try reader.contact(version: sequence, defaultType: .custom)
    }
    return ChangeEntry(sequence: sequence, id: id, contact: indexed)
  }
}
