import ContactsCore
import ContactsPostgres
import Foundation
import TestSupport
import Testing

/// The PostgreSQL store across a database crash and restart (a cluster of the test's own), each
/// repository standing for one worker.
@Suite struct PostgresOutageTests {
  /// A worker that was called while the database was down gets `ContactStoreUnavailable` and
  /// works again within a moment of its return; one that made no call meanwhile still holds the
  /// connection the server closed, and its first read and write after the return are served,
  /// not refused with a 503.
  @Test func workersServeAgainAtOnceAfterADatabaseRestartBusyOrIdle() throws {
    let cluster = try PostgresCluster()
    let url = try cluster.createDatabase()
    let busy = try PostgresContactRepository(url: url)
    let idleReader = try PostgresContactRepository(url: url)
    let idleWriter = try PostgresContactRepository(url: url)
    for repository in [busy, idleReader, idleWriter] { _ = try repository.currentState() }

    try cluster.crash()
    for _ in 0..<3 {
      #expect(throws: ContactStoreUnavailable.self) { try busy.currentState() }
    }
    try cluster.start()
    let back = Date()
    #expect(eventually(within: 2) { (try? busy.currentState()) != nil })
    #expect(Date().timeIntervalSince(back) < 1)

    #expect(try idleReader.currentState().generation == 0)
    let contact = Contact(id: String(repeating: "a", count: 32), type: .custom, name: "After", phoneNumber: "1")
    #expect(try idleWriter.commit(by: "admin") { _ in .create(contact) }.generation == 1)
  }

  /// A database that freezes (a hung machine: the connection stays open, and nothing comes)
  /// costs a worker at most the silence limit, then 503, well inside the pool's 30 s request
  /// timeout that would kill it; writes in flight are not acknowledged, and the worker serves
  /// again once the database is back.
  @Test func aFrozenDatabaseIs503WithinTheSilenceLimitNotAHang() throws {
    let cluster = try PostgresCluster()
    let url = try cluster.createDatabase()
    let reader = try PostgresContactRepository(url: url)
    let writer = try PostgresContactRepository(url: url)
    for repository in [reader, writer] { _ = try repository.currentState() }

    try cluster.freeze()
    defer { try? cluster.thaw() }
    let limit = Double(PostgresConnection.silenceLimitMilliseconds) / 1000
    let started = Date()
    #expect(throws: ContactStoreUnavailable.self) { try reader.currentState() }
    let waited = Date().timeIntervalSince(started)
    #expect(waited >= limit - 0.5 && waited < limit + 5, "waited \(waited) s")
    let contact = Contact(id: String(repeating: "b", count: 32), type: .custom, name: "Frozen", phoneNumber: "1")
    let writeStarted = Date()
    #expect(throws: ContactStoreUnavailable.self) { try writer.commit(by: "admin") { _ in .create(contact) } }
    #expect(Date().timeIntervalSince(writeStarted) < limit + 5)

    try cluster.thaw()
    #expect(eventually(within: 5) { (try? reader.currentState()) != nil })
    // The write that timed out was not committed: its connection was given up mid-transaction.
    #expect(try reader.currentState().contact(id: contact.id) == nil)
  }
}
