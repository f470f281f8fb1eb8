/// One change to the custom contacts, decided under the write lock.
public enum ContactChange: Equatable, Sendable {
  case create(Contact)
  case update(Contact)
  case delete(id: String)

  /// The id of the contact the change is about.
  public var contactID: String {
    switch self {
    case .create(let contact), .update(let contact): contact.id
    case .delete(let id): id
    }
  }
}

/// Where contacts live. The API is written against this protocol; the data directory
/// (`ContactsStore.FileContactRepository`) is the real one, `InMemoryContactRepository` serves
/// unit tests, and a database-backed one can follow without touching the API.
public protocol ContactRepository: AnyObject {
  /// The state as of now: it reflects every write acknowledged (anywhere) before this call.
  ///
  /// - Throws: when the data cannot be read; the request fails with a 5xx.
  func currentState() throws -> DirectoryState

  /// Makes one change atomically: under the exclusive write lock, `decide` sees the freshest
  /// state and returns the change (or throws to make none); the change is durable before this
  /// returns.
  ///
  /// - Parameters:
  ///   - user: who acts, recorded with the change.
  ///   - decide: checks and builds the change; what it throws is rethrown, nothing written.
  /// - Returns: the state after the change.
  func commit(by user: String, _ decide: (DirectoryState) throws -> ContactChange) throws -> DirectoryState
}

/// A repository in memory: for unit tests, and to document the contract in the simplest form.
public final class InMemoryContactRepository: ContactRepository {
  private var state: DirectoryState
  /// Every change committed, with who made it, oldest first.
  public private(set) var history: [(user: String, change: ContactChange)] = []

  public init(contacts: [Contact] = []) {
    state = DirectoryState(contacts: contacts, generation: 1)
  }

  public func currentState() throws -> DirectoryState { state }

  public func commit(by user: String, _ decide: (DirectoryState) throws -> ContactChange) throws -> DirectoryState {
    let change = try decide(state)
    let generation = state.generation + 1
    switch change {
    case .create(let contact), .update(let contact): state.upsert(contact, generation: generation)
    case .delete(let id): state.remove(id: id, generation: generation)
    }
    history.append((user, change))
    return state
  }
}
