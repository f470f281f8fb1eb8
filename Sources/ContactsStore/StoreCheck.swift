public import ContactsCore
import Platform

/// `contacts-fcgi check`: reads a data directory the way a worker would and reports what it
/// finds, without taking the lock or changing a byte.
public struct StoreCheck: Sendable {
  /// Problems that make the directory unusable or inconsistent.
  public var damage: [String] = []
  /// Things that are recoverable and will be tidied by the next writer (torn tail, stray files).
  public var notes: [String] = []
  public var generation: UInt64 = 0
  public var counts: [ContactType: Int] = [:]
  public var journalRecords = 0

  public var isHealthy: Bool { damage.isEmpty }

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
    for (type, file) in snapshot.directoryFiles {
      for entry in try DirectoryFile.read(layout.path(file), type: type, version: 0) { add(entry.contact, from: file) }
    }
    var generation = snapshot.generation

    let bytes: [UInt8]
    do {
      guard let contents = try FileSystem.contents(of: layout.journal) else {
        damage.append("\(StoreLayout.journalName) is missing")
        return
      }
      bytes = contents
    } catch {
      throw .system(error)
    }
    var lineNumber = 0
    var position = 0
    while position < bytes.count {
      lineNumber += 1
      guard let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else {
        notes.append(
          "\(StoreLayout.journalName) line \(lineNumber): an incomplete last line (\(bytes.count - position) bytes) from an interrupted write; readers ignore it and the next write removes it"
        )
        break
      }
      let line = bytes[position..<newline]
      position = newline + 1
      if lineNumber == 1 {
        guard let base = JournalRecord.base(fromHeader: line) else {
          damage.append("\(StoreLayout.journalName) line 1: not a journal header")
          return
        }
        if base > snapshot.generation {
          damage.append(
            "\(StoreLayout.journalName) starts at generation \(base), after the snapshot's \(snapshot.generation)")
        }
        continue
      }
      guard let record = JournalRecord(line: line) else {
        if position >= bytes.count {
          notes.append(
            "\(StoreLayout.journalName) line \(lineNumber): an unreadable last line; the next write removes it")
        } else {
          damage.append("\(StoreLayout.journalName) line \(lineNumber): an unreadable record followed by more records")
        }
        continue
      }
      journalRecords += 1
      guard record.sequence > generation else { continue }
      guard record.sequence == generation + 1 else {
        damage.append("\(StoreLayout.journalName) line \(lineNumber): record \(record.sequence) follows \(generation)")
        generation = record.sequence
        continue
      }
      generation = record.sequence
      switch record.operation {
      case .change(.create(let contact)), .change(.update(let contact)):
        if contact.type != .custom {
          damage.append("line \(lineNumber): a change to a \(contact.type.rawValue) contact")
        }
        if case .change(.create) = record.operation, contacts[contact.id] != nil {
          damage.append("\(StoreLayout.journalName) line \(lineNumber): creates '\(contact.id)', which exists")
        }
        contacts[contact.id] = contact
      case .change(.delete(let id)):
        contacts[id] = nil
      case .directoryImport(let type, let file, let count):
        let imported: [Contact]
        do {
          imported = try DirectoryFile.read(layout.path(file), type: type, version: 0).map(\.contact)
        } catch {
          damage.append("\(StoreLayout.journalName) line \(lineNumber): import file \(file): \(error)")
          continue
        }
        if imported.count != count {
          damage.append("\(file): holds \(imported.count) contacts, the journal says \(count)")
        }
        contacts = contacts.filter { $0.value.type != type }
        for contact in imported { add(contact, from: file) }
      }
    }
    self.generation = generation
    for contact in contacts.values { counts[contact.type, default: 0] += 1 }
    if let names = try? FileSystem.entries(of: layout.directory) {
      for name in names where name.contains(".tmp-") {
        notes.append("\(name): a temporary file of an interrupted write; the next writer removes it")
      }
    }
  }
}
