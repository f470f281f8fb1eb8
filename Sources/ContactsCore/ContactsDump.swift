/// Everything needed to move a store to another one (the data directory ↔ PostgreSQL): every
/// contact with its version (its ETag is `"v<version>"`), the generation, and the audit history
/// of the custom contacts. What `contacts-fcgi export` writes and `contacts-fcgi import dump`
/// loads into an empty store:
///
///     {"format":"contacts-export","version":1,"generation":41,
///      "contacts":[
///     {"version":40,"contact":{"id":"…","name":"…","type":"Custom","phoneNumber":"…"}}],
///      "history":[
///     {"seq":3,"at":"2026-12-01T12:00:00.000Z","by":"admin","op":"create","id":"…","contact":{…}}]}
///
/// Contacts are in id order, history in sequence order, so a dump of the same data is the same
/// bytes whichever store it came from. Not in a dump: the change feed's recent changes (a cursor
/// from before the move expires: 410, and the client reloads), the history of directory
/// contacts (imports), and the answers kept for idempotency keys.
public struct ContactsDump: Sendable, Equatable {
  /// One change of a custom contact, as the audit history keeps it.
  public struct Change: Sendable, Equatable {
    public var sequence: UInt64
    /// UTC with milliseconds: `2026-12-01T12:00:00.000Z`.
    public var at: String
    public var by: String
    public var change: ContactChange

    public init(sequence: UInt64, at: String, by: String, change: ContactChange) {
      self.sequence = sequence
      self.at = at
      self.by = by
      self.change = change
    }
  }

  public static let format = "contacts-export"
  public static let version = 1

  /// The generation of the store when it was dumped: the loaded store continues from it.
  public var generation: UInt64
  /// Every contact, each with its `version`.
  public var contacts: [Contact]
  /// Every change of a custom contact up to `generation`, oldest first.
  public var history: [Change]

  public init(generation: UInt64, contacts: [Contact], history: [Change]) {
    self.generation = generation
    self.contacts = contacts.sorted { $0.id < $1.id }
    self.history = history.sorted { $0.sequence < $1.sequence }
  }

  /// The dump as JSON, one contact and one change per line.
  public func encode() -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 128 + contacts.count * 180 + history.count * 260)
    writer.append(raw: "{")
    writer.append(key: "format", string: Self.format, first: true)
    writer.append(key: "version", integer: Self.version)
    writer.append(key: "generation", integer: generation)
    writer.append(raw: ",\n\"contacts\":[")
    for (index, contact) in contacts.enumerated() {
      writer.append(raw: index == 0 ? "\n{" : ",\n{")
      writer.append(key: "version", integer: contact.version, first: true)
      writer.append(raw: ",\"contact\":")
      writer.append(raw: contact.json)
      writer.append(raw: "}")
    }
    writer.append(raw: "],\n\"history\":[")
    for (index, entry) in history.enumerated() {
      writer.append(raw: index == 0 ? "\n" : ",\n")
      writer.append(raw: Self.line(entry))
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }

  /// One change as the audit history writes it (also a line of the data directory's
  /// `history.jsonl`, without its `\n`):
  /// `{"seq":41,"at":"…","by":"admin","op":"update","id":"…","contact":{…}}`.
  public static func line(_ entry: Change) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 256)
    writer.append(raw: "{")
    writer.append(key: "seq", integer: entry.sequence, first: true)
    writer.append(key: "at", string: entry.at)
    writer.append(key: "by", string: entry.by)
    writer.append(key: "op", string: entry.change.operationName)
    writer.append(key: "id", string: entry.change.contactID)
    switch entry.change {
    case .create(let contact), .update(let contact):
      writer.append(raw: ",\"contact\":")
      writer.append(raw: contact.json)
    case .delete:
      break
    }
    writer.append(raw: "}")
    return writer.bytes
  }

  /// Reads and checks a dump; nothing of a dump that fails here is loaded.
  ///
  /// - Throws: `ContactsDumpError` naming the first problem (and the contact or change).
  public static func parse(_ bytes: [UInt8]) throws(ContactsDumpError) -> ContactsDump {
    let value: JSONValue
    do {
      value = try JSONParser.parse(bytes)
    } catch {
      throw ContactsDumpError("not JSON: \(error)")
    }
    guard value["format"]?.stringValue == format else {
      throw ContactsDumpError("not a contacts dump (no \"format\":\"\(format)\"; see 'contacts-fcgi export')")
    }
    guard case .number(let versionText) = value["version"], versionText == String(version) else {
      throw ContactsDumpError("a dump of another version; this build reads version \(version)")
    }
    guard case .number(let generationText) = value["generation"], let generation = UInt64(generationText) else {
      throw ContactsDumpError("no generation")
    }
    guard case .array(let contactValues) = value["contacts"], case .array(let historyValues) = value["history"] else {
      throw ContactsDumpError("no \"contacts\" or \"history\" array")
    }
    var contacts: [Contact] = []
    var seen = Set<String>()
    for (index, item) in contactValues.enumerated() {
      guard case .number(let text) = item["version"], let version = UInt64(text), let stored = item["contact"] else {
        throw ContactsDumpError("contact \(index + 1): needs a \"version\" and a \"contact\"")
      }
      var contact: Contact
      do {
        contact = try Contact(stored: stored)
      } catch {
        throw ContactsDumpError("contact \(index + 1): \(error.field): \(error.message)")
      }
      guard version >= 1, version <= generation else {
        throw ContactsDumpError("contact '\(contact.id)': version \(version) is outside 1…\(generation)")
      }
      guard seen.insert(contact.id).inserted else { throw ContactsDumpError("contact '\(contact.id)' appears twice") }
      contact.version = version
      contacts.append(contact)
    }
    var history: [Change] = []
    for (index, item) in historyValues.enumerated() {
      guard case .number(let text) = item["seq"], let sequence = UInt64(text), let at = item["at"]?.stringValue,
        let by = item["by"]?.stringValue, let op = item["op"]?.stringValue, let id = item["id"]?.stringValue
      else { throw ContactsDumpError("change \(index + 1): needs seq, at, by, op and id") }
      guard sequence >= 1, sequence <= generation, sequence > (history.last?.sequence ?? 0) else {
        throw ContactsDumpError("change \(sequence): out of order or beyond the generation \(generation)")
      }
      let change: ContactChange
      switch op {
      case "delete":
        change = .delete(id: id)
      case "create", "update":
        guard let stored = item["contact"], let contact = try? Contact(stored: stored), contact.id == id,
          contact.type == .custom
        else { throw ContactsDumpError("change \(sequence): needs the custom contact '\(id)' it wrote") }
        change = op == "create" ? .create(contact) : .update(contact)
      default:
        throw ContactsDumpError("change \(sequence): unknown op '\(op)'")
      }
      history.append(Change(sequence: sequence, at: at, by: by, change: change))
    }
    return ContactsDump(generation: generation, contacts: contacts, history: history)
  }
}

/// Why a dump cannot be read: a sentence naming the problem.
public struct ContactsDumpError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// A dump is loaded only into a store that never held anything: nothing was changed.
public struct StoreNotEmpty: Error, CustomStringConvertible, Sendable {
  public var generation: UInt64
  public var contacts: Int

  public init(generation: UInt64, contacts: Int) {
    self.generation = generation
    self.contacts = contacts
  }

  public var description: String {
    "the store is not empty (generation \(generation), \(contacts) contacts); a dump is loaded only into an "
      + "empty store: a new data directory, or a new database after 'contacts-fcgi migrate'"
  }
}

/// A store that can be dumped whole and loaded from a dump (`contacts-fcgi export`, `import dump`).
public protocol DumpTransferring: ContactRepository {
  /// Every contact with its version, the generation and the custom contacts' history, at one
  /// generation.
  func exportDump() throws -> ContactsDump

  /// Loads `dump` into this store, which must be empty (generation 0): all or nothing. The store
  /// is then at the dump's generation, each contact at its version, the history kept; change-feed
  /// cursors from before it have expired.
  ///
  /// - Parameter dryRun: check that the store is empty, change nothing.
  /// - Throws: `StoreNotEmpty` (nothing changed), or the store's error.
  func loadDump(_ dump: ContactsDump, dryRun: Bool) throws
}
