import ContactsCore
import ContactsPostgres
import ContactsStore
import Foundation
import TestSupport
import Testing

/// Kept answers to `Idempotency-Key` requests last at least 24 hours, in every worker, across
/// restarts and compactions, on both stores; older ones go.
@Suite struct IdempotencyRetentionTests {
  typealias Fixture = RepositoryContractTests.Fixture

  static func answer(key: String, ageSeconds: Int) -> IdempotentAnswer {
    IdempotentAnswer(
      user: "admin", key: key, requestHash: "hash-\(key)", status: 201, body: Array(#"{"key":"\#(key)"}"#.utf8),
      createdAt: Int(Date().timeIntervalSince1970) - ageSeconds)
  }

  /// Folds the journal into the snapshot where the store has one: where the data directory
  /// drops answers past their retention.
  static func compact(_ repository: any DirectoryImporting) throws {
    let store = (repository as? MaintainedRepository)?.inner ?? repository
    try (store as? FileContactRepository)?.compact()
  }

  @Test(arguments: RepositoryContractTests.Store.allCases)
  func anAnswerJustUnder24HoursOldIsReplayedByAnotherWorkerAfterACompactionAndARestart(
    store: RepositoryContractTests.Store
  ) throws {
    let fixture = try Fixture(store)
    let writer = try fixture.open()
    let contact = RepositoryContractTests.custom("Kept")
    let kept = Self.answer(key: "day-old", ageSeconds: IdempotentAnswer.retentionSeconds - 120)
    _ = try writer.commit(by: "admin", idempotencyKey: kept.key) { _, _ in
      CommitPlan([.create(contact)], idempotentAnswer: kept)
    }
    try Self.compact(writer)
    let restarted = try fixture.open()
    #expect(try restarted.keptAnswer(user: "admin", key: kept.key) == kept)
    #expect(try restarted.keptAnswer(user: "someone else", key: kept.key) == nil)
    // A retry's commit sees it under the lock too, and writes nothing.
    let generation = try restarted.currentState().generation
    var seen: IdempotentAnswer?
    let after = try restarted.commit(by: "admin", idempotencyKey: kept.key) { _, answer in
      seen = answer
      return CommitPlan([])
    }
    #expect(seen == kept)
    #expect(after.generation == generation)
  }

  @Test(arguments: RepositoryContractTests.Store.allCases)
  func anAnswerPastItsRetentionIsGoneAfterACompaction(store: RepositoryContractTests.Store) throws {
    let fixture = try Fixture(store)
    let writer = try fixture.open()
    let old = Self.answer(key: "two-days-old", ageSeconds: 2 * IdempotentAnswer.retentionSeconds + 120)
    _ = try writer.commit(by: "admin", idempotencyKey: old.key) { _, _ in
      CommitPlan([.create(RepositoryContractTests.custom("Old"))], idempotentAnswer: old)
    }
    let young = Self.answer(key: "fresh", ageSeconds: 5)
    _ = try writer.commit(by: "admin", idempotencyKey: young.key) { _, _ in
      CommitPlan([.create(RepositoryContractTests.custom("Young"))], idempotentAnswer: young)
    }
    try Self.compact(writer)
    let restarted = try fixture.open()
    #expect(try restarted.keptAnswer(user: "admin", key: old.key) == nil)
    #expect(try restarted.keptAnswer(user: "admin", key: young.key) == young)
  }
}
