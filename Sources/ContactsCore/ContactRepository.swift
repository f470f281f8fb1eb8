/// One change to the custom contacts, decided under the write lock.
public enum ContactChange: Equatable, Sendable {
  case create(Contact)
  case update(Contact)
  case delete(id: String)

  /// `create`, `update` or `delete`: the change's name in journals, histories and tables.
  public var operationName: String {
    switch self {
    case .create: "create"
    case .update: "update"
    case .delete: "delete"
    }
  }

  /// The id of the contact the change is about.
  public var contactID: String {
    switch self {
    case .create(let contact), .update(let contact): contact.id
    case .delete(let id): id
    }
  }
}

/// The store cannot be read or written right now: a disk that is full or failing, a file that
/// is missing or damaged, a database that does not answer. The API answers 503
/// `store_unavailable` with `Retry-After` (never a bare 500), and the repository has already
/// dropped whatever it cached, so the first call after the cause is gone works again: no
/// restart needed.
public struct ContactStoreUnavailable: Error, CustomStringConvertible, Sendable {
  /// What failed, for the log (clients get a fixed sentence).
  public var reason: String
  /// Whether a change was being written: it was not acknowledged.
  public var duringWrite: Bool
  /// What `Retry-After` advises.
  public var retryAfterSeconds: Int

  public init(reason: String, duringWrite: Bool, retryAfterSeconds: Int = 1) {
    self.reason = reason
    self.duringWrite = duringWrite
    self.retryAfterSeconds = retryAfterSeconds
  }

  public var description: String { "store unavailable\(duringWrite ? " (write)" : ""): \(reason)" }
}

/// Where contacts live. The API is written against this protocol; the data directory
/// (`ContactsStore.FileContactRepository`) is the real one, `InMemoryContactRepository` serves
/// unit tests, and a database-backed one can follow without touching the API.
public protocol ContactRepository: AnyObject {
  /// The generation of the state this repository last read or wrote, without any I/O (for the
  /// status page and logs; never for answering a request).
  var cachedGeneration: UInt64 { get }

  /// The state as of now: it reflects every write acknowledged (anywhere) before this call.
  ///
  /// - Throws: `ContactStoreUnavailable` when the data cannot be read (503).
  func currentState() throws -> DirectoryState

  /// Makes one change atomically: under the exclusive write lock, `decide` sees the freshest
  /// state and returns the change (or throws to make none); the change is durable before this
  /// returns, unless the store defers that to `settleWrites()` for a caller that holds its
  /// answers (`hasUnsettledWrites`).
  ///
  /// - Parameters:
  ///   - user: who acts, recorded with the change.
  ///   - idempotencyKey: the request's `Idempotency-Key`: no other request of `user` with it may
  ///     run at the same time (`IdempotencyKeyInUse`), and `decide` is given the answer kept for
  ///     it, if any, read under the lock.
  ///   - decide: checks and builds the changes; what it throws is rethrown, nothing written.
  /// - Returns: the state after the changes.
  /// - Throws: what `decide` threw, or `ContactStoreUnavailable` when the change could not be
  ///   made durable (nothing acknowledged; 503).
  func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState

  /// The answer kept for `key` of `user`, for a retry: read as cheaply as the store allows, no
  /// write lock (a miss goes on to `commit`, which checks again under the lock).
  func keptAnswer(user: String, key: String) throws -> IdempotentAnswer?

  /// A custom contact's history, oldest first: every create, update and delete, for the life of
  /// the data (compaction keeps it).
  ///
  /// - Returns: `nil` when the id never belonged to a custom contact.
  func history(of id: String) throws -> [HistoryEntry]?

  /// The changes after `sequence`, at most `limit`, as of `state` (a state this repository
  /// returned): the change feed.
  ///
  /// - Returns: `nil` when changes after `sequence` are no longer kept (the cursor expired).
  /// - Throws: `ContactStoreUnavailable` when the history cannot be read (503).
  func changes(after sequence: UInt64, limit: Int, in state: DirectoryState) throws -> ChangeFeedPage?

  /// Whether changes were written since the last `settleWrites()` that are not known durable
  /// yet. While it is `true`, no answer computed since the first of them may be sent: every
  /// state this repository returned since may hold them.
  var hasUnsettledWrites: Bool { get }

  /// Makes every change written since the last call durable (one flush covers them all).
  ///
  /// - Throws: `ContactStoreUnavailable` when they could not be: none was acknowledged, and no
  ///   answer computed since the first of them may be sent (the repository reloads).
  func settleWrites() throws

  /// Housekeeping that no request should wait for (the data directory's compaction), called by
  /// a worker after it has finished sending a response. Quick when there is nothing to do; never
  /// throws (a failure is logged and tried again on a later call).
  func performMaintenance()
}

/// One page of the change feed.
public struct ChangeFeedPage: Sendable {
  /// The changes, in commit order.
  public var entries: [ChangeEntry]
  /// Whether more changes follow the last of these (up to the state's generation).
  public var hasMore: Bool

  public init(entries: [ChangeEntry], hasMore: Bool) {
    self.entries = entries
    self.hasMore = hasMore
  }
}

extension ContactRepository {
  /// Makes one change: `commit` without an idempotency key.
  public func commit(by user: String, _ decide: (DirectoryState) throws -> ContactChange) throws -> DirectoryState {
    try commit(by: user, idempotencyKey: nil) { state, _ in CommitPlan([try decide(state)]) }
  }

  /// Nothing to do by default (PostgreSQL and the in-memory store keep no files to compact).
  public func performMaintenance() {}

  /// None by default: `commit` returns once its change is durable.
  public var hasUnsettledWrites: Bool { false }

  /// Nothing to settle by default.
  public func settleWrites() throws {}

  /// From the worker's state (the data directory keeps every answer in each worker).
  public func keptAnswer(user: String, key: String) throws -> IdempotentAnswer? {
    try currentState().idempotentAnswer(user: user, key: key)
  }

  /// From the state's own change log: what every worker keeps in memory.
  public func changes(after sequence: UInt64, limit: Int, in state: DirectoryState) throws -> ChangeFeedPage? {
    state.changeLog.changes(after: sequence, limit: limit).map {
      ChangeFeedPage(entries: Array($0.entries), hasMore: $0.hasMore)
    }
  }
}

/// A repository in memory: for unit tests, and to document the contract in the simplest form.
public final class InMemoryContactRepository: ContactRepository {
  private var state: DirectoryState
  /// Every change committed, with who made it, oldest first.
  public private(set) var history: [(user: String, change: ContactChange)] = []

  /// - Parameter changeHistory: how many changes the change feed keeps at least.
  public init(contacts: [Contact] = [], changeHistory: Int = ChangeLog.defaultCapacity) {
    state = DirectoryState(contacts: contacts, generation: 1)
    state.changeLog.capacity = changeHistory
  }

  public func currentState() throws -> DirectoryState { state }

  public var cachedGeneration: UInt64 { state.generation }

  public func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState {
    let plan = try decide(state, idempotencyKey.flatMap { state.idempotentAnswer(user: user, key: $0) })
    for change in plan.changes {
      let generation = state.generation + 1
      state.apply(change, generation: generation)
      history.append((user, change))
      auditTrail[change.contactID, default: []].append(
        HistoryEntry(
          sequence: generation, at: "1970-01-01T00:00:00.000Z", by: user, op: change.operationName,
          contact: state.contact(id: change.contactID).map { Array($0.json) }))
    }
    if let answer = plan.idempotentAnswer { state.remember(answer) }
    return state
  }

  private var auditTrail: [String: [HistoryEntry]] = [:]

  public func history(of id: String) throws -> [HistoryEntry]? {
    if let entries = auditTrail[id] { return entries }
    return state.contains(id: id) ? [] : nil
  }
}
