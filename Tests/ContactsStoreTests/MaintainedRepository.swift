import ContactsCore

/// A repository used as a worker uses it: `performMaintenance()` after every call that answers a
/// request (the worker loop calls it once the response is finished), so that a data directory
/// with a small threshold compacts as it would in service.
final class MaintainedRepository: DirectoryImporting {
  let inner: any DirectoryImporting

  init(_ inner: any DirectoryImporting) { self.inner = inner }

  var cachedGeneration: UInt64 { inner.cachedGeneration }

  func currentState() throws -> DirectoryState {
    defer { inner.performMaintenance() }
    return try inner.currentState()
  }

  func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState {
    defer { inner.performMaintenance() }
    return try inner.commit(by: user, idempotencyKey: idempotencyKey, decide)
  }

  func keptAnswer(user: String, key: String) throws -> IdempotentAnswer? {
    defer { inner.performMaintenance() }
    return try inner.keptAnswer(user: user, key: key)
  }

  func history(of id: String) throws -> [HistoryEntry]? {
    defer { inner.performMaintenance() }
    return try inner.history(of: id)
  }

  func changes(after sequence: UInt64, limit: Int, in state: DirectoryState) throws -> ChangeFeedPage? {
    defer { inner.performMaintenance() }
    return try inner.changes(after: sequence, limit: limit, in: state)
  }

  func performMaintenance() { inner.performMaintenance() }

  func importDirectory(
    _ type: ContactType, contacts: [Contact], by user: String, dryRun: Bool, allowEmpty: Bool
  ) throws -> DirectoryImportSummary {
    defer { inner.performMaintenance() }
    return try inner.importDirectory(type, contacts: contacts, by: user, dryRun: dryRun, allowEmpty: allowEmpty)
  }
}
