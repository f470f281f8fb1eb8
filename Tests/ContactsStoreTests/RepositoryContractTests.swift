import ContactsCore
import ContactsPostgres
import ContactsStore
import Foundation
import TestSupport
import Testing

/// The guarantees every store gives, run against each: the data directory and PostgreSQL. Each
/// repository object stands for one worker (or one host): they share only the store.
@Suite struct RepositoryContractTests {
  enum Store: String, CaseIterable, CustomTestStringConvertible {
    case dataDirectory, postgres
    var testDescription: String { rawValue }
  }

  /// One store's location, and a way to open another "worker" on it.
  final class Fixture: @unchecked Sendable {
    // @unchecked: immutable after init; the folder is removed on release.
    let store: Store
    let folder: TemporaryDirectory?
    let url: String?

    init(_ store: Store) throws {
      self.store = store
      switch store {
      case .dataDirectory:
        folder = TemporaryDirectory("contacts-contract")
        url = nil
      case .postgres:
        folder = nil
        url = try PostgresCluster.shared().createDatabase()
      }
    }

    func open(changeHistory: Int = ChangeLog.defaultCapacity) throws -> any DirectoryImporting {
      switch store {
      case .dataDirectory:
        let repository = try FileContactRepository(directory: folder!.path)
        // Small, so that the journal is compacted many times over a test (after each call, as a
        // worker does after each response).
        repository.compactionThresholdBytes = 2048
        repository.changeHistory = changeHistory
        return MaintainedRepository(repository)
      case .postgres:
        let repository = try PostgresContactRepository(url: url!)
        repository.changeHistory = changeHistory
        return repository
      }
    }
  }

  static func custom(_ name: String) -> Contact {
    Contact(
      id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), type: .custom, name: name,
      phoneNumber: "555 \(name.count)")
  }

  @Test(arguments: Store.allCases)
  func everyWriteGetsTheNextGenerationAsItsVersion(store: Store) throws {
    let fixture = try Fixture(store)
    let repository = try fixture.open()
    let start = try repository.currentState().generation
    let contact = Self.custom("Front Desk")
    let created = try repository.commit(by: "admin") { _ in .create(contact) }
    #expect(created.generation == start + 1)
    #expect(created.contact(id: contact.id)?.contact.version == start + 1)
    let updated = try repository.commit(by: "admin") { state in
      var changed = try #require(state.contact(id: contact.id)).contact
      changed.name = "Reception"
      return .update(changed)
    }
    #expect(updated.contact(id: contact.id)?.contact.name == "Reception")
    #expect(updated.contact(id: contact.id)?.contact.version == start + 2)
    let deleted = try repository.commit(by: "admin") { _ in .delete(id: contact.id) }
    #expect(deleted.contact(id: contact.id) == nil)
    #expect(deleted.generation == start + 3)
    #expect(repository.cachedGeneration == start + 3)
    withExtendedLifetime(fixture) {}
  }

  /// Read-your-writes across workers (and hosts): a write acknowledged through one repository is
  /// in the very next read through another.
  @Test(arguments: Store.allCases)
  func anotherWorkerSeesEveryAcknowledgedWriteOnItsNextRead(store: Store) throws {
    let fixture = try Fixture(store)
    let writer = try fixture.open()
    let reader = try fixture.open()
    _ = try reader.currentState()
    for index in 0..<20 {
      let contact = Self.custom("Contact \(index)")
      let written = try writer.commit(by: "admin") { _ in .create(contact) }
      let read = try reader.currentState()
      #expect(read.generation == written.generation)
      #expect(read.contact(id: contact.id)?.contact == written.contact(id: contact.id)?.contact)
    }
  }

  /// `decide` runs under the write lock on the freshest state, whatever the repository had
  /// cached: the basis of `If-Match`.
  @Test(arguments: Store.allCases)
  func decideSeesTheFreshestStateEvenWhenTheWorkerIsBehind(store: Store) throws {
    let fixture = try Fixture(store)
    let first = try fixture.open()
    let second = try fixture.open()
    let contact = Self.custom("Shared")
    _ = try first.commit(by: "admin") { _ in .create(contact) }
    _ = try second.currentState()
    _ = try first.commit(by: "admin") { state in
      var changed = try #require(state.contact(id: contact.id)).contact
      changed.name = "Changed by the first"
      return .update(changed)
    }
    var seenVersion: UInt64 = 0
    _ = try second.commit(by: "admin") { state in
      let current = try #require(state.contact(id: contact.id)).contact
      seenVersion = current.version
      #expect(current.name == "Changed by the first")
      var changed = current
      changed.name = "Then the second"
      return .update(changed)
    }
    #expect(seenVersion == (try first.currentState().contact(id: contact.id)?.contact.version ?? 0) - 1)
  }

  /// Four workers, each incrementing a counter with read-modify-write under the lock: no update
  /// is lost, and every create is there once.
  @Test(arguments: Store.allCases)
  func concurrentWritersLoseAndDuplicateNothing(store: Store) async throws {
    let fixture = try Fixture(store)
    let counter = Self.custom("0")
    _ = try fixture.open().commit(by: "admin") { _ in .create(counter) }
    let created = try await withThrowingTaskGroup(of: [String].self) { group in
      for _ in 0..<4 {
        group.addTask {
          let repository = try fixture.open()
          var ids: [String] = []
          for _ in 0..<15 {
            let contact = Self.custom("Created")
            _ = try repository.commit(by: "admin") { _ in .create(contact) }
            ids.append(contact.id)
            _ = try repository.commit(by: "admin") { state in
              var current = try #require(state.contact(id: counter.id)).contact
              current.name = String((Int(current.name) ?? 0) + 1)
              return .update(current)
            }
          }
          return ids
        }
      }
      return try await group.reduce(into: []) { $0 += $1 }
    }
    let final = try fixture.open().currentState()
    #expect(final.contact(id: counter.id)?.contact.name == "60")
    #expect(Set(created).count == 60)
    #expect(created.allSatisfy { final.contains(id: $0) })
  }

  /// An import is all or nothing; a refused one changes nothing; each store counts the same.
  @Test(arguments: Store.allCases)
  func importsReplaceATypeAllOrNothing(store: Store) throws {
    let fixture = try Fixture(store)
    let repository = try fixture.open()
    let users = (0..<50).map { index in
      Contact(
        id: "user-\(index)", type: .user, name: "User \(index)", phoneNumber: "555 01\(index)", userName: "u\(index)")
    }
    let first = try repository.importDirectory(.user, contacts: users, by: "import", dryRun: false, allowEmpty: false)
    #expect(first.added.count == 50)
    var next = Array(users.dropFirst(5))
    next[0].name = "Renamed"
    let dry = try repository.importDirectory(.user, contacts: next, by: "import", dryRun: true, allowEmpty: false)
    #expect((dry.added.count, dry.changed.count, dry.removed.count, dry.unchanged) == (0, 1, 5, 44))
    #expect(try fixture.open().currentState().contacts(ofType: .user).count == 50)

    let duplicated = next + [next[1]]
    #expect(throws: (any Error).self) {
      try repository.importDirectory(.user, contacts: duplicated, by: "import", dryRun: false, allowEmpty: false)
    }
    #expect(throws: (any Error).self) {
      try repository.importDirectory(.user, contacts: [], by: "import", dryRun: false, allowEmpty: false)
    }
    #expect(try fixture.open().currentState().contacts(ofType: .user).count == 50)

    _ = try repository.importDirectory(.user, contacts: next, by: "import", dryRun: false, allowEmpty: false)
    let other = try fixture.open().currentState()
    #expect(other.contacts(ofType: .user).count == 45)
    #expect(other.contact(id: next[0].id)?.contact.name == "Renamed")
    #expect(other.contact(id: "user-0") == nil)
  }

  /// The change feed's reference check, on each store: over random creates, updates, deletes and
  /// imports (with compactions in between on the data directory), applying the feed page by
  /// page to the contacts at an old cursor gives the contacts now. Read by a worker that saw
  /// everything and by one that started afresh (after a restart).
  @Test(arguments: Store.allCases)
  func applyingTheFeedToAnOldStateGivesTheNewOne(store: Store) throws {
    let fixture = try Fixture(store)
    let writer = try fixture.open()
    let follower = try fixture.open()
    var random = SeededRandom(seed: 0xC4A4)
    var saved: [(cursor: UInt64, contacts: [String: [UInt8]])] = []
    for step in 0..<120 {
      try Self.randomChange(writer, &random)
      if step % 17 == 0 {
        let state = try follower.currentState()
        saved.append((state.generation, Self.contacts(state)))
      }
    }
    let final = try follower.currentState()
    let restarted = try fixture.open()
    for reader in [follower, restarted] {
      let now = try reader.currentState()
      #expect(now.generation == final.generation)
      for (cursor, contacts) in saved {
        var applied = contacts
        var position = cursor
        var pages = 0
        while pages < 1000 {
          pages += 1
          let limit = random.next(upTo: 7) + 1
          guard let page = try reader.changes(after: position, limit: limit, in: now) else {
            Issue.record("\(store): the cursor \(position) expired")
            break
          }
          for entry in page.entries {
            applied[entry.id] = entry.contact.map { Array($0.json) }
            position = entry.sequence
          }
          if !page.hasMore { break }
        }
        #expect(applied == Self.contacts(final), "\(store): from cursor \(cursor)")
      }
    }
    withExtendedLifetime(fixture) {}
  }

  @Test(arguments: Store.allCases)
  func aCursorOlderThanTheKeptHistoryExpiresAndARecentOneDoesNot(store: Store) throws {
    let fixture = try Fixture(store)
    let repository = try fixture.open(changeHistory: 5)
    let old = try repository.currentState().generation
    for index in 0..<20 { _ = try repository.commit(by: "admin") { _ in .create(Self.custom("C\(index)")) } }
    let now = try repository.currentState()
    #expect(try repository.changes(after: old, limit: 100, in: now) == nil)
    let recent = now.generation - 3
    let page = try #require(try repository.changes(after: recent, limit: 100, in: now))
    #expect(page.entries.map(\.sequence) == [recent + 1, recent + 2, recent + 3])
    withExtendedLifetime(fixture) {}
  }

  static func contacts(_ state: DirectoryState) -> [String: [UInt8]] {
    Dictionary(state.entries.map { ($0.contact.id, Array($0.json)) }, uniquingKeysWith: { $1 })
  }

  static func randomChange(_ repository: any DirectoryImporting, _ random: inout SeededRandom) throws {
    let state = try repository.currentState()
    let custom = state.contacts(ofType: .custom)
    switch custom.isEmpty ? 9 : random.next(upTo: 10) {
    case 0, 1:
      let id = custom[random.next(upTo: custom.count)].id
      _ = try repository.commit(by: "admin") { _ in .delete(id: id) }
    case 2, 3, 4:
      var contact = custom[random.next(upTo: custom.count)]
      contact.name = "Renamed \(random.next(upTo: 1000))"
      _ = try repository.commit(by: "admin") { _ in .update(contact) }
    case 5:
      let users = (0..<random.next(upTo: 12)).map { index in
        Contact(
          id: "user-\(random.next(upTo: 15))-\(index % 2)", type: .user, name: "User \(random.next(upTo: 4))",
          phoneNumber: "555 \(index)", userName: "u\(index)")
      }
      let unique = Dictionary(users.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }).values.sorted {
        $0.id < $1.id
      }
      _ = try repository.importDirectory(.user, contacts: Array(unique), by: "import", dryRun: false, allowEmpty: true)
    default:
      let contact = Self.custom("Created \(random.next(upTo: 1000))")
      _ = try repository.commit(by: "admin") { _ in .create(contact) }
    }
  }

  /// A bulk request is one commit: consecutive sequence numbers, one durable write, seen whole by
  /// every other worker.
  @Test(arguments: Store.allCases)
  func manyChangesCommitTogetherWithConsecutiveVersions(store: Store) throws {
    let fixture = try Fixture(store)
    let writer = try fixture.open()
    let reader = try fixture.open()
    let start = try writer.currentState().generation
    let contacts = (0..<3).map { Self.custom("Bulk \($0)") }
    _ = try writer.commit(by: "admin", idempotencyKey: nil) { _, _ in CommitPlan(contacts.map { .create($0) }) }
    let seen = try reader.currentState()
    #expect(seen.generation == start + 3)
    #expect(contacts.map { seen.contact(id: $0.id)?.contact.version } == [start + 1, start + 2, start + 3])
    withExtendedLifetime(fixture) {}
  }

  /// A kept answer is seen by every worker, after a restart, and after compactions; a second
  /// request with the key while the first runs is refused.
  @Test(arguments: Store.allCases)
  func keptAnswersAreSharedAndLastAndAKeyIsUsedOnceAtATime(store: Store) throws {
    let fixture = try Fixture(store)
    let first = try fixture.open()
    let second = try fixture.open()
    let contact = Self.custom("Kept")
    let answer = IdempotentAnswer(
      user: "admin", key: "retry-1", requestHash: "abc", status: 201, body: contact.json, createdAt: 1_900_000_000)
    var inUse = false
    _ = try first.commit(by: "admin", idempotencyKey: "retry-1") { _, kept in
      #expect(kept == nil)
      // Meanwhile a retry reaches another worker: the key is taken.
      do {
        _ = try second.commit(by: "admin", idempotencyKey: "retry-1") { _, _ in CommitPlan([]) }
      } catch is IdempotencyKeyInUse {
        inUse = true
      }
      return CommitPlan([.create(contact)], idempotentAnswer: answer)
    }
    #expect(inUse, "a concurrent request with the same key must be refused")
    #expect(try second.keptAnswer(user: "admin", key: "retry-1")?.body == contact.json)
    #expect(try second.keptAnswer(user: "other", key: "retry-1") == nil)
    var replayed: IdempotentAnswer?
    _ = try second.commit(by: "admin", idempotencyKey: "retry-1") { _, kept in
      replayed = kept
      return CommitPlan([])
    }
    #expect(replayed?.requestHash == "abc")
    for index in 0..<40 { _ = try first.commit(by: "admin") { _ in .create(Self.custom("After \(index)")) } }
    #expect(try fixture.open().keptAnswer(user: "admin", key: "retry-1")?.status == 201)
    #expect(try fixture.open().currentState().contains(id: contact.id))
    withExtendedLifetime(fixture) {}
  }

  /// The audit history of a custom contact lasts across compactions and restarts, also after it
  /// was deleted; users and queues have none; an unknown id has no history at all.
  @Test(arguments: Store.allCases)
  func historyLastsAcrossCompactionAndRestartAndDeletion(store: Store) throws {
    let fixture = try Fixture(store)
    let repository = try fixture.open()
    let contact = Self.custom("Tracked")
    _ = try repository.commit(by: "alice") { _ in .create(contact) }
    _ = try repository.commit(by: "bob") { state in
      var changed = try #require(state.contact(id: contact.id)).contact
      changed.name = "Tracked 2"
      return .update(changed)
    }
    for index in 0..<40 { _ = try repository.commit(by: "noise") { _ in .create(Self.custom("Noise \(index)")) } }
    _ = try repository.commit(by: "carol") { _ in .delete(id: contact.id) }
    let users = [Contact(id: "user-h", type: .user, name: "User", phoneNumber: "1", userName: "u")]
    _ = try repository.importDirectory(.user, contacts: users, by: "import", dryRun: false, allowEmpty: true)
    for reader in [repository, try fixture.open()] {
      let history = try #require(try reader.history(of: contact.id))
      #expect(history.map(\.op) == ["create", "update", "delete"])
      #expect(history.map(\.by) == ["alice", "bob", "carol"])
      #expect(history[1].contact.flatMap { try? JSONParser.parse($0) }?["name"]?.stringValue == "Tracked 2")
      #expect(history[2].contact == nil)
      #expect(history.allSatisfy { $0.at.hasSuffix("Z") && $0.at.count == 24 })
      #expect(try reader.history(of: "user-h") == [])
      #expect(try reader.history(of: "never-there") == nil)
    }
    withExtendedLifetime(fixture) {}
  }
}
