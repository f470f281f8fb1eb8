import ContactsCore
import ContactsStore
import Foundation
import Platform
import TestSupport
import Testing

/// The data directory in one process: each `FileContactRepository` stands for one worker.
struct FileContactRepositoryTests {
  func create(_ repository: FileContactRepository, _ name: String, id: String? = nil) throws -> Contact {
    let contact = Contact(
      id: id ?? UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), type: .custom, name: name,
      phoneNumber: "555 \(name.count)")
    let state = try repository.commit(by: "tester") { _ in .create(contact) }
    return try #require(state.contact(id: contact.id)).contact
  }

  @Test func writesSurviveReopeningTheDirectory() throws {
    let directory = TemporaryDirectory()
    var ids: [String] = []
    do {
      let repository = try FileContactRepository(directory: directory.path)
      for index in 0..<20 { ids.append(try create(repository, "Contact \(index)").id) }
      _ = try repository.commit(by: "tester") { state in
        var contact = try #require(state.contact(id: ids[3])).contact
        contact.name = "Renamed"
        return .update(contact)
      }
      _ = try repository.commit(by: "tester") { _ in .delete(id: ids[4]) }
    }
    let reopened = try FileContactRepository(directory: directory.path).currentState()
    #expect(reopened.count == 19)
    #expect(reopened.contact(id: ids[3])?.contact.name == "Renamed")
    #expect(reopened.contact(id: ids[4]) == nil)
    #expect(reopened.generation == 22)
  }

  /// A worker loading a long journal applies it in one pass; it must end where a worker that
  /// followed every record one by one ended, imports in the middle included.
  @Test func loadingTheJournalInOnePassEqualsFollowingItRecordByRecord() throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    let follower = try FileContactRepository(directory: directory.path)
    var ids: [String] = []
    for index in 0..<30 {
      ids.append(try create(writer, "Before \(index)").id)
      _ = try follower.currentState()
    }
    _ = try writer.importDirectory(.user, contacts: [Contact(id: "u1", type: .user, name: "Imported")], by: "import")
    for index in 0..<10 {
      _ = try writer.commit(by: "tester") { state in
        var contact = try #require(state.contact(id: ids[index])).contact
        contact.name = "Zed \(index)"
        return .update(contact)
      }
      _ = try writer.commit(by: "tester") { _ in .delete(id: ids[29 - index]) }
      _ = try follower.currentState()
    }
    let followed = try follower.currentState()
    let loaded = try FileContactRepository(directory: directory.path).currentState()
    #expect(loaded.generation == followed.generation)
    #expect(loaded.entries.map(\.contact) == followed.entries.map(\.contact))
    #expect(loaded.entries.map(\.json) == followed.entries.map(\.json))
    #expect(loaded.count == 21)
  }

  @Test func anotherWorkersWriteIsVisibleOnTheNextRead() throws {
    let directory = TemporaryDirectory()
    let workerA = try FileContactRepository(directory: directory.path)
    let workerB = try FileContactRepository(directory: directory.path)
    #expect(try workerB.currentState().count == 0)
    for index in 0..<50 {
      let contact = try create(workerA, "From A \(index)")
      #expect(try workerB.currentState().contact(id: contact.id) != nil)
    }
    let fromB = try create(workerB, "From B")
    #expect(try workerA.currentState().contact(id: fromB.id)?.contact.name == "From B")
  }

  @Test func writersSeeEachOthersChangesUnderTheLock() throws {
    let directory = TemporaryDirectory()
    let workerA = try FileContactRepository(directory: directory.path)
    let workerB = try FileContactRepository(directory: directory.path)
    let contact = try create(workerA, "Shared")
    _ = try workerA.currentState()
    _ = try workerB.commit(by: "b") { state in
      var changed = try #require(state.contact(id: contact.id)).contact
      changed.phoneNumber = "111"
      return .update(changed)
    }
    // A has not read since B wrote; its commit must still decide on B's version.
    _ = try workerA.commit(by: "a") { state in
      let current = try #require(state.contact(id: contact.id)).contact
      #expect(current.phoneNumber == "111")
      var changed = current
      changed.name = "Shared by both"
      return .update(changed)
    }
    let final = try #require(try workerB.currentState().contact(id: contact.id)).contact
    #expect(final.name == "Shared by both" && final.phoneNumber == "111")
  }

  @Test func aFailedDecisionWritesNothing() throws {
    struct Refused: Error {}
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    let before = try FileSystem.identity(of: "\(directory.path)/journal.jsonl")?.size
    #expect(throws: Refused.self) { try repository.commit(by: "x") { _ in throw Refused() } }
    #expect(try FileSystem.identity(of: "\(directory.path)/journal.jsonl")?.size == before)
  }

  @Test func compactionKeepsEverythingAndReadersFollowIt() throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    writer.compactionThresholdBytes = 2048
    let reader = try FileContactRepository(directory: directory.path)
    var ids: [String] = []
    for index in 0..<200 {
      ids.append(try create(writer, "Compacted \(index)").id)
      writer.performMaintenance()  // as the worker does once the response is sent
      if index % 7 == 0 { #expect(try reader.currentState().count == ids.count) }
    }
    let journalSize = try #require(try FileSystem.identity(of: "\(directory.path)/journal.jsonl")).size
    #expect(journalSize < 8192, "the journal was compacted")
    #expect(try reader.currentState().count == 200)
    let fresh = try FileContactRepository(directory: directory.path).currentState()
    #expect(Set(fresh.entries.map(\.contact.id)) == Set(ids))
    #expect(fresh.generation == 200)
    #expect(StoreCheck.run(directory: directory.path).isHealthy)
  }

  /// A writer killed mid-append leaves part of a line: readers ignore it, the next writer cuts it.
  @Test func aTornLastLineIsIgnoredThenTruncated() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    let kept = try create(repository, "Kept")
    let journal = try FileDescriptor(open: "\(directory.path)/journal.jsonl", [.writeOnly, .append])
    try journal.writeAll(
      Array(#"{"seq":2,"at":"2026-01-01T00:00:00.000Z","by":"x","op":"create","contact":{"id":"#.utf8))
    let reader = try FileContactRepository(directory: directory.path)
    #expect(try reader.currentState().count == 1)
    let check = StoreCheck.run(directory: directory.path)
    #expect(check.isHealthy)
    #expect(check.notes.contains { $0.contains("incomplete last line") })
    let next = try create(reader, "Next")
    let state = try FileContactRepository(directory: directory.path).currentState()
    #expect(Set(state.entries.map(\.contact.id)) == [kept.id, next.id])
    #expect(StoreCheck.run(directory: directory.path).notes.isEmpty)
  }

  @Test func aLeftoverTemporaryFileIsRemovedOnStart() throws {
    let directory = TemporaryDirectory()
    _ = try FileContactRepository(directory: directory.path)
    let leftover = "\(directory.path)/snapshot.json.tmp-12345"
    try Data("{\"format\":1,\"gener".utf8).write(to: URL(fileURLWithPath: leftover))
    #expect(StoreCheck.run(directory: directory.path).notes.contains { $0.contains("temporary") })
    _ = try FileContactRepository(directory: directory.path)
    #expect(!FileManager.default.fileExists(atPath: leftover))
  }

  @Test func damageInTheMiddleOfTheJournalIsReportedNotHidden() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    for name in ["One", "Two", "Three"] { _ = try create(repository, name) }
    // Corrupt the first record (line 2); valid records follow it.
    let path = "\(directory.path)/journal.jsonl"
    var bytes = try #require(try FileSystem.contents(of: path))
    let secondLine = try #require(bytes.firstIndex(of: UInt8(ascii: "\n"))) + 1
    bytes[secondLine] = UInt8(ascii: "#")
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect(throws: StoreError.self) { try FileContactRepository(directory: directory.path) }
    let check = StoreCheck.run(directory: directory.path)
    #expect(!check.isHealthy)
    #expect(check.damage.contains { $0.contains("line 2") })
  }

  @Test func importReplacesATypeAtomicallyAndWorkersSeeIt() throws {
    let directory = TemporaryDirectory()
    let worker = try FileContactRepository(directory: directory.path)
    let custom = try create(worker, "Custom one")
    let importer = try FileContactRepository(directory: directory.path)
    let first = try importer.importDirectory(
      .user, contacts: [Contact(id: "u1", type: .user, name: "Ann"), Contact(id: "u2", type: .user, name: "Bo")],
      by: "import")
    #expect(first.added == ["u1", "u2"])
    #expect(try worker.currentState().contacts(ofType: .user).map(\.id) == ["u1", "u2"])
    let second = try importer.importDirectory(
      .user, contacts: [Contact(id: "u2", type: .user, name: "Bo"), Contact(id: "u3", type: .user, name: "Cy")],
      by: "import")
    #expect(second.added == ["u3"] && second.removed == ["u1"] && second.unchanged == 1)
    #expect(try worker.currentState().contacts(ofType: .user).map(\.id) == ["u2", "u3"])
    #expect(try worker.currentState().contact(id: custom.id) != nil)

    let before = try worker.currentState().generation
    #expect(throws: StoreError.self) {
      try importer.importDirectory(.queue, contacts: [Contact(id: custom.id, type: .queue, name: "Clash")], by: "x")
    }
    #expect(throws: StoreError.self) {
      try importer.importDirectory(.queue, contacts: [Contact(id: "u2", type: .queue, name: "Clash")], by: "x")
    }
    let dryRun = try importer.importDirectory(.user, contacts: [], by: "x", dryRun: true, allowEmpty: true)
    #expect(dryRun.removed == ["u2", "u3"])
    #expect(try worker.currentState().generation == before)
    #expect(try FileContactRepository(directory: directory.path).currentState().contacts(ofType: .user).count == 2)
  }
}
