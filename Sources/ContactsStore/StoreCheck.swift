public import ContactsCore
import Platform

/// `contacts-fcgi check`: reads a data directory the way a worker would and reports what it
/// finds, without taking the lock or changing a byte.
public struct StoreCheck: Sendable {
  /// Problems that make the directory unusable or inconsistent.
  public var damage: [String] = []
  /// Things that are recoverable and will be tidied by the next writer (torn tail, stray files).
  public var notes: [String] = []
  /// The generation the directory loads at.
  public var generation: UInt64 = 0
  /// How many contacts of each type it holds.
  public var counts: [ContactType: Int] = [:]
  /// The readable records in the journal.
  public var journalRecords = 0
  /// The bytes of the journal's complete lines.
  public var journalBytes: Int64 = 0
  /// How many of them the durable watermark (`journal.watermark`) says are flushed; `nil` when it
  /// has nothing for this journal in this boot (the next process to open the directory syncs the
  /// journal and makes it).
  public var durableBytes: Int64?

  /// No damage (notes may remain).
  public var isHealthy: Bool { damage.isEmpty }

  /// Checks the data directory at `directory`; never throws, everything is in the report.
  public static func run(directory: String) -> StoreCheck {
    var report = StoreCheck()
    let layout = StoreLayout(directory: FileSystem.absolute(directory))
    do {
      try report.inspect(layout)
    } catch {
      report.damage.append("\(error)")
    }
    return report
  }

  private mutating func inspect(_ layout: StoreLayout) throws(StoreError) {
    let snapshot = try Snapshot.read(layout)
    var contacts: [String: Contact] = [:]
    func add(_ contact: Contact, from source: String) {
      if contacts[contact.id] != nil { damage.append("\(source): id '\(contact.id)' is used twice") }
      contacts[contact.id] = contact
    }
    for entry in snapshot.custom { add(entry.contact, from: StoreLayout.snapshotName) }
    // A loading worker reads only the change-log entries it keeps; the check reads them all.
    for change in snapshot.changes?.entries ?? [] { _ = try change.entry { _ in nil } }
    for (type, file) in snapshot.directoryFiles {
      for entry in try DirectoryFile.read(layout.path(file), type: type, version: 0) { add(entry.contact, from: file) }
    }
    let journal: Journal
    do {
      journal = try Journal.open(layout.journal, writable: false)
    } catch StoreError.system(let error) where error.code == SystemError.noSuchFile {
      damage.append("\(StoreLayout.journalName) is missing")
      return
    }
    let scan = try journal.scan(after: snapshot.generation)
    let name = StoreLayout.journalName
    if let base = scan.base, base > snapshot.generation {
      damage.append("\(name) starts at generation \(base), after the snapshot's \(snapshot.generation)")
    }
    damage += scan.problems.map { "\(name) line \($0.line): \($0.reason)" }
    if let torn = scan.tornTail {
      notes.append(
        torn.complete
          ? "\(name) line \(torn.line): an unreadable last line; the next write removes it"
          : "\(name) line \(torn.line): an incomplete last line (\(torn.bytes) bytes) from an interrupted write; readers ignore it and the next write removes it"
      )
    }
    journalRecords = scan.readableRecords
    journalBytes = Int64(scan.length)
    let journalIdentity = try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.identity(of: layout.journal)
    }
    if let record = DurableWatermark.peek(layout), let journalIdentity, record.names(journalIdentity) {
      durableBytes = record.durable
      if record.durable < journalBytes {
        notes.append(
          "\(name): \(journalBytes - record.durable) bytes of complete lines past the durable watermark (\(record.durable) of \(journalBytes)): written, not yet flushed; readers ignore them until a writer's flush covers them"
        )
      }
    } else {
      notes.append(
        "\(StoreLayout.watermarkName): nothing for this journal in this boot; the next process to open the directory syncs the journal and makes it"
      )
    }
    for entry in scan.entries {
      let line = entry.line
      switch entry.record.operation {
      case .change, .changes:
        for (change, _) in entry.record.contactChanges {
          switch change {
          case .create(let contact), .update(let contact):
            if contact.type != .custom {
              damage.append("\(name) line \(line): a change to a \(contact.type.rawValue) contact")
            }
            if case .create = change, contacts[contact.id] != nil {
              damage.append("\(name) line \(line): creates '\(contact.id)', which exists")
            }
            contacts[contact.id] = contact
          case .delete(let id):
            contacts[id] = nil
          }
        }
      case .directoryImport(let type, let file, let count):
        let imported: [Contact]
        do {
          imported = try DirectoryFile.read(layout.path(file), type: type, version: 0).map(\.contact)
        } catch {
          damage.append("\(name) line \(line): import file \(file): \(error)")
          continue
        }
        if imported.count != count {
          damage.append("\(file): holds \(imported.count) contacts, the journal says \(count)")
        }
        contacts = contacts.filter { $0.value.type != type }
        for contact in imported { add(contact, from: file) }
      }
    }
    generation = scan.generation
    for contact in contacts.values { counts[contact.type, default: 0] += 1 }
    if let names = try? FileSystem.entries(of: layout.directory) {
      for name in names where name.contains(".tmp-") {
        notes.append("\(name): a temporary file of an interrupted write; the next writer removes it")
      }
    }
  }
}
