import ContactsCore
import Foundation
import TestSupport
import Testing

@testable import ContactsPostgres

/// A write is two pipelines (`PostgresContactRepository.commit`): `BEGIN`, the lock and the
/// catch-up in one round trip, the write statements and `COMMIT` in another. What fails in either
/// leaves nothing half-written, and the worker's state holds only what was committed.
@Suite struct PostgresPipelinedCommitTests {
  static func custom(_ name: String) -> Contact {
    Contact(
      id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), type: .custom, name: name,
      phoneNumber: "555 0100")
  }

  /// What the database holds: the generation, and the sequence numbers of every change in order.
  static func stored(_ url: String) throws -> (generation: UInt64, sequences: [UInt64], contacts: Int) {
    let connection = try PostgresConnection(url: url)
    let generation = try PostgresContactRepository.generation(connection)
    let rows = try connection.query("SELECT seq FROM contact_changes ORDER BY seq")
    let contacts = try connection.query("SELECT count(*) FROM contacts")[0, 0].flatMap { Int($0) } ?? -1
    return (generation, (0..<rows.count).compactMap { rows[$0, 0].flatMap { UInt64($0) } }, contacts)
  }

  /// The write statement fails (a contact created twice: a unique violation) after the catch-up
  /// brought another worker's change: nothing of the write is stored, `COMMIT` never ran, and the
  /// worker keeps the other worker's change, with no connection lost.
  @Test func aStatementThatFailsInTheWritePipelineLeavesNothingAndTheStateCommitted() throws {
    let url = try PostgresCluster.shared().createDatabase()
    let worker = try PostgresContactRepository(url: url)
    let other = try PostgresContactRepository(url: url)
    let first = Self.custom("First")
    _ = try worker.commit(by: "admin") { _ in .create(first) }
    let second = Self.custom("Second")
    _ = try other.commit(by: "admin") { _ in .create(second) }

    let error = #expect(throws: PostgresStoreError.self) {
      try worker.commit(by: "admin") { state in
        #expect(state.contains(id: second.id), "decided on the caught-up state")
        return .create(first)
      }
    }
    #expect(error?.description.contains("23505") == true)
    #expect(try Self.stored(url) == (2, [1, 2], 2))
    #expect(worker.cachedGeneration == 2)
    #expect(worker.reconnects == 0)
    let third = Self.custom("Third")
    #expect(try worker.commit(by: "admin") { _ in .create(third) }.generation == 3)
    #expect(try other.currentState().contact(id: third.id)?.contact.version == 3)
    #expect(try Self.stored(url) == (3, [1, 2, 3], 3))
  }

  /// The connection dies between the two round trips (the lock held, the decision made): the
  /// server rolls the transaction back, the write answers 503, and the worker's next write
  /// connects again and takes the next number, with no gap.
  @Test func aConnectionLostBetweenTheRoundTripsLeavesNothingAndTheNextWriteGoesOn() throws {
    let url = try PostgresCluster.shared().createDatabase()
    let worker = try PostgresContactRepository(url: url)
    _ = try worker.commit(by: "admin") { _ in .create(Self.custom("First")) }
    let pid = try worker.withConnection(writing: false) { try $0.query("SELECT pg_backend_pid()")[0, 0]! }
    let killer = try PostgresConnection(url: url)

    #expect(throws: ContactStoreUnavailable.self) {
      try worker.commit(by: "admin") { _ in
        // Waits until the backend is gone, so the write pipeline cannot reach it first.
        let ended = try killer.query("SELECT pg_terminate_backend($1, 5000)", [pid])[0, 0]
        #expect(ended == "t")
        return .create(Self.custom("Lost"))
      }
    }
    #expect(try Self.stored(url) == (1, [1], 1))
    #expect(worker.cachedGeneration == 1)
    let kept = Self.custom("Kept")
    // The first call after the loss may still find the reconnect interval running.
    var committed: DirectoryState?
    for _ in 0..<20 where committed == nil {
      committed = try? worker.commit(by: "admin") { _ in .create(kept) }
      if committed == nil { usleep(100_000) }
    }
    #expect(committed?.contact(id: kept.id)?.contact.version == 2)
    #expect(worker.reconnects == 1)
    #expect(try Self.stored(url) == (2, [1, 2], 2))
  }

  /// The session forgets the prepared statements between the two round trips (a pooler handing
  /// the second to another server session): the transaction is rolled back and runs once more,
  /// unnamed, deciding again; one change is stored, with the next number.
  @Test func statementsForgottenBetweenTheRoundTripsRunTheWholeTransactionAgainOnce() throws {
    let url = try PostgresCluster.shared().createDatabase()
    var logged: [String] = []
    let worker = try PostgresContactRepository(url: url) { logged.append($0) }
    _ = try worker.commit(by: "admin") { _ in .create(Self.custom("First")) }
    let contact = Self.custom("Once")
    var decisions = 0
    let committed = try worker.commit(by: "admin") { _ in
      decisions += 1
      if decisions == 1 { _ = try worker.withConnection(writing: false) { try $0.query("DEALLOCATE ALL") } }
      return .create(contact)
    }
    #expect(decisions == 2)
    #expect(committed.contact(id: contact.id)?.contact.version == 2)
    #expect(try worker.withConnection(writing: false) { $0.preparesStatements } == false)
    #expect(logged.filter { $0.contains("max_prepared_statements") }.count == 1)
    #expect(try Self.stored(url) == (2, [1, 2], 2))
  }

  /// Writers on several connections at once (several workers, or hosts): every sequence number
  /// from 1 up is taken exactly once, every worker ends with the same state, and of writers that
  /// all update one contact with the same `If-Match`, exactly one wins each round.
  @Test func concurrentWritersGetGapFreeNumbersAndOneIfMatchWinnerARound() async throws {
    let url = try PostgresCluster.shared().createDatabase()
    let writers = 4
    let rounds = 10
    let target = Self.custom("Target")
    let created = try PostgresContactRepository(url: url).commit(by: "admin") { _ in .create(target) }
    var version = try #require(created.contact(id: target.id)).contact.version
    for round in 0..<rounds {
      let expected = version
      let winners = try await withThrowingTaskGroup(of: Int.self) { group in
        for writer in 0..<writers {
          group.addTask {
            let repository = try PostgresContactRepository(url: url)
            // A create of its own first, so that every writer also catches up under the lock.
            _ = try repository.commit(by: "admin") { _ in .create(Self.custom("Round \(round) \(writer)")) }
            do {
              _ = try repository.commit(by: "admin") { state in
                var current = try #require(state.contact(id: target.id)).contact
                guard current.version == expected else { throw PreconditionFailedForTest() }
                current.name = "Won by \(writer) in round \(round)"
                return .update(current)
              }
              return 1
            } catch is PreconditionFailedForTest {
              return 0
            }
          }
        }
        return try await group.reduce(0, +)
      }
      #expect(winners == 1, "round \(round): exactly one If-Match winner")
      version = try #require(try PostgresContactRepository(url: url).currentState().contact(id: target.id)).contact
        .version
      #expect(version > expected)
    }
    let total = UInt64(1 + rounds * (writers + 1))
    let (generation, sequences, _) = try Self.stored(url)
    #expect(generation == total)
    #expect(sequences == Array(1...total))
    let one = try PostgresContactRepository(url: url).currentState()
    let two = try PostgresContactRepository(url: url).currentState()
    #expect(one.entries.map(\.contact) == two.entries.map(\.contact))
  }
}

/// What a test's decision throws for an `If-Match` that no longer matches.
struct PreconditionFailedForTest: Error {}
