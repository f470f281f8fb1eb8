import ContactsCore
import Platform

/// The worker's store, timed and counted for `/_contacts/metrics`: every commit's duration goes
/// to the scoreboard's histogram, every call that fails as unavailable (503) to its store errors.
/// Everything else is the store's own answer, passed through unchanged.
final class MeasuredRepository: ContactRepository {
  let inner: any ContactRepository
  let scoreboard: Scoreboard?
  let slot: Int?
  /// When each commit not yet settled began (`settleWrites()` counts them, durable).
  private var unsettledCommitStarts: [UInt64] = []

  init(_ inner: any ContactRepository, scoreboard: Scoreboard?, slot: Int?) {
    self.inner = inner
    self.scoreboard = scoreboard
    self.slot = slot
  }

  var cachedGeneration: UInt64 { inner.cachedGeneration }

  func currentState() throws -> DirectoryState {
    try counted { try inner.currentState() }
  }

  func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState {
    let started = Clock.monotonicNanoseconds()
    let state = try counted { try inner.commit(by: user, idempotencyKey: idempotencyKey, decide) }
    // A commit's time runs until it is durable: for one left to `settleWrites()`, until then.
    if inner.hasUnsettledWrites {
      unsettledCommitStarts.append(started)
    } else {
      recordCommit(since: started)
    }
    return state
  }

  func keptAnswer(user: String, key: String) throws -> IdempotentAnswer? {
    try counted { try inner.keptAnswer(user: user, key: key) }
  }

  func history(of id: String) throws -> [HistoryEntry]? {
    try counted { try inner.history(of: id) }
  }

  func changes(after sequence: UInt64, limit: Int, in state: DirectoryState) throws -> ChangeFeedPage? {
    try counted { try inner.changes(after: sequence, limit: limit, in: state) }
  }

  func performMaintenance() { inner.performMaintenance() }

  var hasUnsettledWrites: Bool { inner.hasUnsettledWrites }

  func settleWrites() throws {
    let starts = unsettledCommitStarts
    unsettledCommitStarts.removeAll()
    try counted { try inner.settleWrites() }
    for started in starts { recordCommit(since: started) }
  }

  private func recordCommit(since started: UInt64) {
    if let scoreboard, let slot {
      scoreboard.recordCommit(slot, nanoseconds: Clock.monotonicNanoseconds() - started)
    }
  }

  private func counted<Result>(_ body: () throws -> Result) throws -> Result {
    do {
      return try body()
    } catch let error as ContactStoreUnavailable {
      if let scoreboard, let slot { scoreboard.countStoreError(slot) }
      throw error
    }
  }
}
