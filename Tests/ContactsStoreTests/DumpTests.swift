import ContactsAPI
import ContactsCore
import ContactsPostgres
import ContactsStore
import Foundation
import TestSupport
import Testing

/// Moving between stores (`contacts-fcgi export`, `import dump`): data directory → dump →
/// PostgreSQL → dump → data directory keeps every contact's bytes and version (so its ETag),
/// the generation and the custom contacts' history.
@Suite struct DumpTests {
  static func custom(_ name: String) -> Contact {
    Contact(
      id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), type: .custom, name: name,
      phoneNumber: "555 \(name.count)")
  }

  static let users = [
    Contact(
      id: "user-joej", type: .user, name: "Joe Johnson", phoneNumber: "+1 555-123-4567", userName: "joej",
      firstName: "Joe", lastName: "Johnson", employeeId: "E42"),
    Contact(id: "user-ann", type: .user, name: "Ann \"Quote\" Lee", userName: "ann"),
  ]
  static let queues = [Contact(id: "queue-sales", type: .queue, name: "Sales", phoneNumber: "+1 800 555 0100")]

  /// The ETag and body of `GET /contacts/<id>`, through the API over `repository`.
  static func get(_ id: String, from repository: any ContactRepository) -> (etag: String?, body: [UInt8]) {
    let api = ContactsAPI(repository: repository)
    let response = api.respond(
      to: APIRequest(
        method: "GET", target: "/contacts/\(id)",
        caller: .authenticated(Identity(user: "admin", roles: ["Contact Center Admin"]))))
    return (response.headers.first { $0.name.lowercased() == "etag" }?.value, response.body)
  }

  @Test func roundTripThroughPostgresKeepsContactsVersionsGenerationAndHistory() throws {
    let first = TemporaryDirectory("contacts-dump-a")
    let source = try FileContactRepository(directory: first.path)
    source.compactionThresholdBytes = 512  // history both in history.jsonl and in the journal
    _ = try source.importDirectory(.user, contacts: Self.users, by: "import")
    _ = try source.importDirectory(.queue, contacts: Self.queues, by: "import")
    let kept = Self.custom("Front Desk")
    let gone = Self.custom("Old Lobby")
    _ = try source.commit(by: "admin") { _ in .create(kept) }
    _ = try source.commit(by: "alice") { _ in .create(gone) }
    for round in 0..<6 {
      _ = try source.commit(by: "admin") { state in
        var changed = try #require(state.contact(id: kept.id)).contact
        changed.name = "Front Desk \(round)"
        return .update(changed)
      }
      source.performMaintenance()  // as the worker does after each response
    }
    _ = try source.commit(by: "bob") { _ in .delete(id: gone.id) }
    _ = try source.commit(by: "admin") { _ in .create(Self.custom("Late")) }
    let generation = try source.currentState().generation
    #expect(FileManager.default.fileExists(atPath: "\(first.path)/history.jsonl"), "compacted at least once")

    let dump = try source.exportDump()
    let bytes = dump.encode()
    #expect(dump.generation == generation)
    #expect(try ContactsDump.parse(bytes) == dump)
    #expect(dump.history.count == 10)
    #expect(dump.history.filter { $0.change.contactID == gone.id }.map(\.change.operationName) == ["create", "delete"])

    // → PostgreSQL
    let url = try PostgresCluster.shared().createDatabase()
    let database = try PostgresContactRepository(url: url)
    try database.loadDump(try ContactsDump.parse(bytes), dryRun: false)
    let databaseCheck = try PostgresCheck.run(url: url)
    #expect(databaseCheck.damage == [])
    #expect(databaseCheck.generation == generation)
    let fromDatabase = try PostgresContactRepository(url: url).exportDump().encode()
    #expect(fromDatabase == bytes)

    // → a new data directory
    let second = TemporaryDirectory("contacts-dump-b")
    try FileContactRepository(directory: second.path).loadDump(try ContactsDump.parse(fromDatabase), dryRun: false)
    let directoryCheck = StoreCheck.run(directory: second.path)
    #expect(directoryCheck.damage == [])
    #expect(directoryCheck.generation == generation)
    let target = try FileContactRepository(directory: second.path)
    // The users were imported before the custom writes: their versions are below the file's.
    let usersFile = try String(contentsOfFile: "\(second.path)/users-\(generation).json", encoding: .utf8)
    #expect(usersFile.contains(#"{"v":"#))
    #expect(try target.exportDump().encode() == bytes)

    let stores: [any ContactRepository] = [source, try PostgresContactRepository(url: url), target]
    for store in stores {
      #expect(try store.currentState().generation == generation)
      for contact in dump.contacts {
        let (etag, body) = Self.get(contact.id, from: store)
        #expect(etag == "\"v\(contact.version)\"", "\(contact.id) in \(type(of: store))")
        #expect(body == contact.json)
      }
      #expect(try store.history(of: gone.id) == source.history(of: gone.id))
      #expect(try store.history(of: kept.id) == source.history(of: kept.id))
    }

    // The loaded stores go on from the generation; a cursor from before the move has expired.
    for store in stores.dropFirst() {
      let state = try store.currentState()
      #expect(try store.changes(after: generation - 1, limit: 10, in: state) == nil)
      #expect(try store.changes(after: generation, limit: 10, in: state)?.entries.isEmpty == true)
      let next = try store.commit(by: "admin") { _ in .delete(id: kept.id) }
      #expect(next.generation == generation + 1)
      #expect(try store.changes(after: generation, limit: 10, in: next)?.entries.map(\.id) == [kept.id])
    }
    #expect(try PostgresCheck.run(url: url).damage == [])
    #expect(StoreCheck.run(directory: second.path).damage == [])
    withExtendedLifetime(first) {}
  }

  /// PostgreSQL numbers each contact an import changes, so users have versions of their own;
  /// the data directory keeps them in its directory file (`{"v":…,"c":…}`).
  @Test func perContactVersionsFromPostgresSurviveInADataDirectory() throws {
    let url = try PostgresCluster.shared().createDatabase()
    let database = try PostgresContactRepository(url: url)
    _ = try database.importDirectory(.user, contacts: Self.users, by: "import", dryRun: false, allowEmpty: false)
    var renamed = Self.users
    renamed[1].name = "Ann Lee"
    _ = try database.importDirectory(.user, contacts: renamed, by: "import", dryRun: false, allowEmpty: false)
    let dump = try database.exportDump()
    #expect(Set(dump.contacts.map(\.version)).count == 2)

    let folder = TemporaryDirectory("contacts-dump-versions")
    try FileContactRepository(directory: folder.path).loadDump(dump, dryRun: false)
    #expect(StoreCheck.run(directory: folder.path).damage == [])
    let reopened = try FileContactRepository(directory: folder.path)
    #expect(try reopened.exportDump() == dump)
    for contact in dump.contacts {
      #expect(Self.get(contact.id, from: reopened).etag == "\"v\(contact.version)\"")
    }
    // A later import gives every user the import's generation again, as before.
    _ = try reopened.importDirectory(.user, contacts: Self.users, by: "import")
    let after = try FileContactRepository(directory: folder.path).currentState()
    #expect(Set(after.entries.map(\.contact.version)) == [after.generation])
  }

  @Test(arguments: ["dataDirectory", "postgres"])
  func aStoreThatHoldsAnythingIsRefusedAndKeptAsItWas(store: String) throws {
    let folder = TemporaryDirectory("contacts-dump-refused")
    let repository: any DumpTransferring =
      store == "postgres"
      ? try PostgresContactRepository(url: PostgresCluster.shared().createDatabase())
      : try FileContactRepository(directory: folder.path)
    _ = try repository.commit(by: "admin") { _ in .create(Self.custom("Existing")) }
    let before = try repository.exportDump()
    let dump = ContactsDump(
      generation: 7, contacts: [Contact(id: "queue-x", type: .queue, name: "X", version: 3)], history: [])
    #expect(throws: StoreNotEmpty.self) { try repository.loadDump(dump, dryRun: false) }
    #expect(throws: StoreNotEmpty.self) { try repository.loadDump(dump, dryRun: true) }
    #expect(try repository.exportDump() == before)
    if store == "dataDirectory" {
      #expect(try FileContactRepository(directory: folder.path).exportDump() == before)
    }
  }

  @Test func damagedDumpsAreRefusedWithTheirProblem() {
    func problem(_ text: String) -> String? {
      do {
        _ = try ContactsDump.parse(Array(text.utf8))
        return nil
      } catch {
        return error.description
      }
    }
    let head = #"{"format":"contacts-export","version":1,"generation":5,"#
    #expect(problem(#"{"contacts":[]}"#)?.contains("not a contacts dump") == true)
    #expect(
      problem(head + #""contacts":[{"version":6,"contact":{"id":"q","name":"Q","type":"Queue"}}],"history":[]}"#)?
        .contains("outside 1…5") == true)
    #expect(
      problem(
        head + #""contacts":[{"version":1,"contact":{"id":"q","name":"Q","type":"Queue"}},"#
          + #"{"version":2,"contact":{"id":"q","name":"R","type":"Queue"}}],"history":[]}"#)?.contains("twice") == true)
    #expect(
      problem(
        head + #""contacts":[],"history":[{"seq":3,"at":"x","by":"a","op":"delete","id":"c"},"#
          + #"{"seq":2,"at":"x","by":"a","op":"delete","id":"c"}]}"#)?.contains("out of order") == true)
    #expect(problem(head + #""contacts":[],"history":[]}"#) == nil)
  }
}
