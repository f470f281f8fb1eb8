import ContactsCore
import Platform

/// `snapshot.json`: the custom contacts with their versions, and which directory files hold
/// the users and queues, all at one generation.
///
///     {"format":1,"generation":41,"files":{"User":"users-7.json"},
///      "custom":[{"v":40,"c":{"id":"…","name":"…","type":"Custom","phoneNumber":"…"}}]}
struct Snapshot {
  var generation: UInt64
  var directoryFiles: [ContactType: String]
  var custom: [Contact]

  static func encode(_ state: DirectoryState, directoryFiles: [ContactType: String]) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 64 + state.count * 120)
    writer.append(raw: "{\"format\":1,\"generation\":")
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
    for entry in state.entries where entry.contact.type == .custom {
      if !first { writer.append(raw: ",\n") }
      first = false
      writer.append(raw: "{\"v\":")
      writer.append(integer: entry.contact.version)
      writer.append(raw: ",\"c\":")
      writer.append(raw: entry.json)
      writer.append(raw: "}")
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }

  static func read(_ layout: StoreLayout) throws(StoreError) -> Snapshot {
    let bytes: [UInt8]?
    do { bytes = try FileSystem.contents(of: layout.snapshot) } catch { throw .system(error) }
    guard let bytes else {
      throw .system(SystemError(syscall: "open", path: layout.snapshot, code: SystemError.noSuchFile))
    }
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch {
      throw .damaged(file: StoreLayout.snapshotName, line: error.line, reason: error.reason)
    }
    guard case .number(let generationText) = value["generation"], let generation = UInt64(generationText),
      case .object(let files) = value["files"], case .array(let entries) = value["custom"]
    else {
      throw .damaged(file: StoreLayout.snapshotName, line: nil, reason: "generation, files or custom is missing")
    }
    var directoryFiles: [ContactType: String] = [:]
    for member in files {
      guard let type = ContactType(rawValue: member.key), type != .custom, let file = member.value.stringValue else {
        throw .damaged(file: StoreLayout.snapshotName, line: nil, reason: "files has an unknown entry \(member.key)")
      }
      directoryFiles[type] = file
    }
    var custom: [Contact] = []
    custom.reserveCapacity(entries.count)
    for (index, entry) in entries.enumerated() {
      guard case .number(let versionText) = entry["v"], let version = UInt64(versionText), let stored = entry["c"],
        var contact = try? Contact(stored: stored), contact.type == .custom
      else {
        throw .damaged(file: StoreLayout.snapshotName, line: nil, reason: "custom contact \(index) is unreadable")
      }
      contact.version = version
      custom.append(contact)
    }
    return Snapshot(generation: generation, directoryFiles: directoryFiles, custom: custom)
  }
}

/// `users-<g>.json` / `queues-<g>.json`: `{"type":"User","contacts":[…]}`, written once by an
/// import and never changed.
enum DirectoryFile {
  static func encode(_ contacts: [Contact], type: ContactType) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 64 + contacts.count * 160)
    writer.append(raw: "{\"type\":")
    writer.append(string: type.rawValue)
    writer.append(raw: ",\"contacts\":[")
    for (index, contact) in contacts.enumerated() {
      if index > 0 { writer.append(raw: ",\n") }
      var typed = contact
      typed.type = type
      writer.append(raw: typed.json)
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }

  static func read(_ path: String, type: ContactType) throws(StoreError) -> [Contact] {
    let bytes: [UInt8]?
    do { bytes = try FileSystem.contents(of: path) } catch { throw .system(error) }
    guard let bytes else { throw .system(SystemError(syscall: "open", path: path, code: SystemError.noSuchFile)) }
    let name = String(path.split(separator: "/").last ?? "")
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch {
      throw .damaged(file: name, line: error.line, reason: error.reason)
    }
    guard case .array(let entries) = value["contacts"] else {
      throw .damaged(file: name, line: nil, reason: "contacts is missing")
    }
    var contacts: [Contact] = []
    contacts.reserveCapacity(entries.count)
    for (index, entry) in entries.enumerated() {
      guard let contact = try? Contact(stored: entry, defaultType: type), contact.type == type else {
        throw .damaged(file: name, line: nil, reason: "contact \(index) is unreadable")
      }
      contacts.append(contact)
    }
    return contacts
  }
}
