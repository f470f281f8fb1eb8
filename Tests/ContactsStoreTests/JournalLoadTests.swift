import ContactsCore
import Platform
import TestSupport
import Testing

@testable import ContactsStore

/// A worker that loads a long journal merges its changes into the snapshot's contacts before
/// building the state (`PendingChanges.state(applyingTo:)`), instead of building the state and
/// then merging them (`PendingChanges.apply(to:)`). Both must give the same state.
struct JournalLoadTests {
  /// Everything a state holds that a request can see, as text.
  static func describe(_ state: DirectoryState) -> [String] {
    state.entries.map { "\($0.contact.id) v\($0.contact.version) \(String(decoding: $0.json, as: UTF8.self))" }
      + state.entries.map { "by id \($0.contact.id): \(state.contact(id: $0.contact.id) === $0)" }
      + state.changeLog.all.map {
        "change \($0.sequence) \($0.id) \($0.contact.map { String(decoding: $0.json, as: UTF8.self) } ?? "deleted")"
      }
      + ["generation \(state.generation)", "horizon \(state.changeLog.horizon)"]
      + state.idempotentAnswers.keys.sorted().map { "answer \($0)" }
  }

  static func contact(_ random: inout SeededRandom, id: Int) -> Contact {
    let names = ["Ann", "bob", "Émile", "Zoë \"Z\"", "ann", "日本", "Bob"]
    return Contact(
      id: "c\(id)", type: .custom, name: "\(names[random.next(upTo: names.count)]) \(random.next(upTo: 5))",
      phoneNumber: random.next(upTo: 3) == 0 ? nil : "555 \(id)")
  }

  @Test(arguments: [64, 65, 200, 1000])
  func mergingBeforeBuildingEqualsBuildingThenMerging(changes count: Int) throws {
    var random = SeededRandom(seed: UInt64(count))
    var contacts = (0..<300).map { id in
      var contact = Self.contact(&random, id: id)
      contact.version = UInt64(id + 1)
      return IndexedContact(contact)
    }
    contacts.append(IndexedContact(Contact(id: "u1", type: .user, name: "Ann 1", userName: "ann", version: 2)))
    let generation: UInt64 = 400
    var changeLog = ChangeLog(capacity: 100, horizon: 350)
    for sequence in 351...generation { changeLog.append(ChangeEntry(sequence: sequence, id: "c1", contact: nil)) }
    var pending = PendingChanges()
    var changes: [ContactChange] = []
    for offset in 1...count {
      let id = random.next(upTo: 400)  // some never existed
      let change: ContactChange =
        switch random.next(upTo: 4) {
        case 0: .delete(id: "c\(id)")
        case 1: .create(Self.contact(&random, id: id))
        default: .update(Self.contact(&random, id: id))
        }
      pending.add(change, sequence: generation + UInt64(offset))
      changes.append(change)
    }
    var built = DirectoryState(indexed: contacts, generation: generation)
    built.changeLog = changeLog
    var applied = pending
    applied.apply(to: &built)
    // Contacts indexed ahead (by the thread that scanned the journal), by sequence number: right
    // for most changes, another contact for some (a record cut back and written again).
    var ahead: [UInt64: IndexedContact] = [:]
    for (offset, change) in changes.enumerated() {
      guard case .create(var contact) = change else { continue }  // updates: none ahead
      contact.version = generation + UInt64(offset + 1)
      if offset % 5 == 0 { contact.name += " (another)" }
      ahead[contact.version] = IndexedContact(contact)
    }
    let merged = try pending.state(
      applyingTo: DirectoryState.LoadingContacts(contacts), generation: generation, indexed: { ahead[$0] },
      changeLog: { _, appending in
        ChangeLog(
          capacity: changeLog.capacity, horizon: 350, restoring: changeLog.all, sequence: \.sequence, entry: { $0 },
          followedBy: appending)
      })

    #expect(Self.describe(merged) == Self.describe(built))
    #expect(merged.generation == generation + UInt64(count))
    for entry in merged.entries where entry.contact.version > generation {
      guard let indexedAhead = ahead[entry.contact.version] else { continue }
      #expect((entry === indexedAhead) == (indexedAhead.contact == entry.contact))
    }
  }

  /// Through the files: a fresh worker loads snapshot and a journal of a few hundred records
  /// (bulk writes, idempotent answers, an import in the middle); a worker that was already
  /// running reads the same records as one tail. Both end in the same state.
  @Test func aFreshWorkerEndsWhereARunningOneDoes() throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    var random = SeededRandom(seed: 7)
    for id in 0..<150 { _ = try writer.commit(by: "seed") { _ in .create(Self.contact(&random, id: id)) } }
    try writer.compact()
    let running = try FileContactRepository(directory: directory.path)
    _ = try running.currentState()
    func writes(_ count: Int, from first: Int) throws {
      for step in 0..<count {
        let id = random.next(upTo: 200)
        let key = step % 10 == 0 ? "key-\(first + step)" : nil
        _ = try writer.commit(by: "admin", idempotencyKey: key) { state, _ in
          var changes: [ContactChange] = []
          for offset in 0..<(step % 7 == 0 ? 3 : 1) {
            let target = "c\((id + offset * 11) % 200)"
            changes.append(
              state.contains(id: target) && random.next(upTo: 3) == 0
                ? .delete(id: target) : .update(Self.contact(&random, id: (id + offset * 11) % 200)))
          }
          let answer = key.map {
            IdempotentAnswer(
              user: "admin", key: $0, requestHash: "h", status: 201, body: Array("{}".utf8),
              createdAt: Int(Clock.unixSeconds()))
          }
          return CommitPlan(changes, idempotentAnswer: answer)
        }
      }
    }
    try writes(120, from: 0)
    _ = try writer.importDirectory(
      .user, contacts: [Contact(id: "u1", type: .user, name: "Imported", userName: "imp")], by: "import")
    try writes(90, from: 1000)
    let followed = try running.currentState()
    let loaded = try FileContactRepository(directory: directory.path).currentState()
    #expect(Self.describe(loaded) == Self.describe(followed))
    #expect(loaded.generation == followed.generation)
  }

  /// The snapshot's change log names the contacts that have not changed since: a loading worker
  /// shares their indexed form with the state rather than building it twice, and builds the
  /// others (changed since, by the journal) anew.
  @Test func theChangeLogSharesTheContactsThatAreCurrent() throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    var random = SeededRandom(seed: 3)
    for id in 0..<40 { _ = try writer.commit(by: "seed") { _ in .create(Self.contact(&random, id: id)) } }
    _ = try writer.commit(by: "seed") { _ in .delete(id: "c3") }
    try writer.compact()
    _ = try writer.commit(by: "later") { _ in .update(Self.contact(&random, id: 5)) }
    let loaded = try FileContactRepository(directory: directory.path).currentState()
    let logged = loaded.changeLog.all.filter { $0.sequence <= 41 }
    #expect(logged.count == 41)  // each of the 40 creates and the delete
    for entry in logged {
      let current = loaded.contact(id: entry.id)
      switch entry.id {
      case "c3":  // created, then deleted
        #expect(current == nil)
        #expect((entry.contact == nil) == (entry.sequence == 41))
      case "c5":
        #expect(entry.contact != nil && entry.contact !== current)
        #expect(entry.contact?.contact.version == entry.sequence)
      default:
        #expect(entry.contact === current, "\(entry.id)")
      }
    }
    #expect(Self.describe(loaded) == Self.describe(try writer.currentState()))
  }
}
