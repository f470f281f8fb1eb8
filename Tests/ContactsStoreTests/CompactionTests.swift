import ContactsCore
import ContactsStore
import Foundation
import Platform
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Compaction off the write path: `commit` never compacts; `performMaintenance()` (a worker, after
/// its response) does, while other writers go on; a compaction killed at any step loses no
/// acknowledged write and no history entry, and repeats none.
struct CompactionTests {
  static func custom(_ name: String) -> Contact {
    Contact(
      id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), type: .custom, name: name,
      phoneNumber: "555 \(name.count)")
  }

  @discardableResult
  static func create(_ repository: FileContactRepository, _ name: String) throws -> String {
    let contact = custom(name)
    _ = try repository.commit(by: "tester") { _ in .create(contact) }
    return contact.id
  }

  /// Changes of `history.jsonl`, by line: every one must be readable, and each sequence number
  /// must appear once.
  static func historySequences(_ directory: String) throws -> [UInt64] {
    let bytes = try FileSystem.contents(of: "\(directory)/history.jsonl") ?? []
    #expect(bytes.isEmpty || bytes.last == UInt8(ascii: "\n"), "history.jsonl ends in a complete line")
    return try bytes.split(separator: UInt8(ascii: "\n")).map { line in
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
      return try #require((object["seq"] as? NSNumber)?.uint64Value)
    }
  }

  /// After everything: the directory passes `check`, a fresh load holds exactly `ids`, and the
  /// audit history (file and journal) has every change from 1 to the generation exactly once
  /// (in these tests every change is to a custom contact).
  static func expectIntact(_ directory: String, ids: Set<String>) throws {
    let check = StoreCheck.run(directory: directory)
    #expect(check.isHealthy, "\(check.damage)")
    let fresh = try FileContactRepository(directory: directory)
    let state = try fresh.currentState()
    #expect(Set(state.entries.map(\.contact.id)) == ids)
    let filed = try historySequences(directory)
    #expect(filed == (0..<filed.count).map { UInt64($0 + 1) }, "in order, once each")
    let history = try fresh.exportDump().history.map(\.sequence)
    #expect(history == Array(1...state.generation), "every change once, none missing")
  }

  @Test func commitNeverCompactsEvenWhenDueAndMaintenanceDoes() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    repository.compactionThresholdBytes = 512
    var steps: [CompactionStep] = []
    repository.compactionStepHook = { steps.append($0) }
    let snapshot = try #require(try FileSystem.identity(of: "\(directory.path)/snapshot.json"))
    var ids: Set<String> = []
    for index in 0..<40 { ids.insert(try Self.create(repository, "Contact \(index)")) }
    // Far past the threshold, yet every commit returned without touching the snapshot.
    #expect(repository.journalBytes > 4 * 512)
    #expect(steps.isEmpty)
    let unchanged = try #require(try FileSystem.identity(of: "\(directory.path)/snapshot.json"))
    #expect(unchanged.isSameFile(as: snapshot) && unchanged.size == snapshot.size)

    repository.performMaintenance()
    #expect(steps == CompactionStep.allCases)
    #expect(repository.journalBytes < 512)
    let compacted = try #require(try FileSystem.identity(of: "\(directory.path)/snapshot.json"))
    #expect(!compacted.isSameFile(as: snapshot))
    // Not due any more: the next maintenance does nothing.
    repository.performMaintenance()
    #expect(steps.count == CompactionStep.allCases.count)
    try Self.expectIntact(directory.path, ids: ids)
  }

  /// Other workers write while a compaction is between its steps (the steps that hold no write
  /// lock): the records they append after G are carried into the new journal, and a reader
  /// that had the old journal open goes on in the new one.
  @Test(arguments: [CompactionStep.caughtUp, .historyWritten, .snapshotWritten])
  func writersGoOnDuringACompactionAndLoseNothing(step: CompactionStep) throws {
    let directory = TemporaryDirectory()
    let compactor = try FileContactRepository(directory: directory.path)
    let writer = try FileContactRepository(directory: directory.path)
    let reader = try FileContactRepository(directory: directory.path)
    var ids: Set<String> = []
    for index in 0..<30 { ids.insert(try Self.create(compactor, "Before \(index)")) }
    _ = try reader.currentState()
    var during: [String] = []
    compactor.compactionStepHook = { current in
      guard current == step else { return }
      // Another process's writes, each acknowledged while the compaction is at this step.
      for index in 0..<15 { during.append((try? Self.create(writer, "During \(index)")) ?? "failed") }
      _ = try? writer.commit(by: "tester") { _ in .delete(id: during[0]) }
      _ = try? reader.currentState()
    }
    try compactor.compact()
    #expect(during.count == 15 && !during.contains("failed"))
    ids.formUnion(during.dropFirst())
    #expect(Set(try compactor.currentState().entries.map(\.contact.id)) == ids)
    #expect(Set(try reader.currentState().entries.map(\.contact.id)) == ids)
    #expect(Set(try writer.currentState().entries.map(\.contact.id)) == ids)
    // The new journal holds exactly the 16 records written after G.
    let journal = try #require(try FileSystem.contents(of: "\(directory.path)/journal.jsonl"))
    #expect(journal.split(separator: UInt8(ascii: "\n")).count == 1 + 16)
    #expect(String(decoding: journal.prefix(40), as: UTF8.self).contains("\"base\":30"))
    for index in 0..<5 { ids.insert(try Self.create(writer, "After \(index)")) }
    #expect(Set(try reader.currentState().entries.map(\.contact.id)) == ids)
    try Self.expectIntact(directory.path, ids: ids)
  }

  /// A write whose `fdatasync` fails while a compaction is under way is cut off (503, not
  /// acknowledged) and is not carried into the new journal; the writes around it are.
  @Test func aWriteThatFailsDuringACompactionIsNotCarriedOver() throws {
    let directory = TemporaryDirectory()
    let compactor = try FileContactRepository(directory: directory.path)
    let writer = try FileContactRepository(directory: directory.path)
    var ids: Set<String> = []
    for index in 0..<20 { ids.insert(try Self.create(compactor, "Before \(index)")) }
    var failed: (any Error)?
    compactor.compactionStepHook = { step in
      guard step == .snapshotWritten else { return }
      ids.insert((try? Self.create(writer, "Kept 1")) ?? "failed")
      writer.faultInjection = { operation throws(SystemError) in
        if operation == .sync { throw SystemError(syscall: "fdatasync", path: "journal.jsonl", code: EIO) }
      }
      do { try Self.create(writer, "Not acknowledged") } catch { failed = error }
      writer.faultInjection = nil
      ids.insert((try? Self.create(writer, "Kept 2")) ?? "failed")
    }
    try compactor.compact()
    #expect(failed is ContactStoreUnavailable)
    #expect(!ids.contains("failed"))
    let names = Set(try FileContactRepository(directory: directory.path).currentState().entries.map(\.contact.name))
    #expect(!names.contains("Not acknowledged"))
    #expect(names.isSuperset(of: ["Kept 1", "Kept 2"]))
    try Self.expectIntact(directory.path, ids: ids)
  }

  /// Four writers on threads of their own (each a worker: its own repository, its own open files,
  /// so the locks exclude them as they do processes), each running maintenance after every
  /// write, with a threshold small enough that compactions overlap writes all the time.
  @Test func concurrentWritersWithCompactionsInBetweenLoseNothing() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let threads = (0..<4).map { writer in
      startThread { () -> Result<[String], any Error> in
        Result {
          let repository = try FileContactRepository(directory: path)
          repository.compactionThresholdBytes = 1024
          var ids: [String] = []
          for index in 0..<120 {
            ids.append(try Self.create(repository, "W\(writer) \(index)"))
            repository.performMaintenance()
          }
          return ids
        }
      }
    }
    let ids = try threads.flatMap { try $0().get() }
    #expect(ids.count == 480)
    #expect((try Self.historySequences(path)).count > 100, "compacted, many times")
    try Self.expectIntact(path, ids: Set(ids))
  }

  /// A compaction killed in the middle of its append to the history leaves a torn last line
  /// (here written as the kill would leave it). The next compaction cuts it and appends that
  /// change whole, once.
  @Test func aTornHistoryLineIsCutAndItsChangeAppendedOnce() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    var ids: Set<String> = []
    for index in 0..<10 { ids.insert(try Self.create(repository, "First \(index)")) }
    try repository.compact()
    for index in 0..<10 { ids.insert(try Self.create(repository, "Second \(index)")) }
    let history = try FileDescriptor(open: "\(directory.path)/history.jsonl", [.writeOnly, .append])
    try history.writeAll(Array(#"{"seq":11,"at":"2026-01-01T00:00:00.000Z","by":"tes"#.utf8))
    #expect(try repository.exportDump().history.count == 20, "a torn line is not read as a change")
    try repository.compact()
    #expect(try Self.historySequences(directory.path) == Array(1...20))
    try Self.expectIntact(directory.path, ids: ids)
  }

  /// `contacts-fcgi compact` killed (SIGKILL) once each step is done, while another process
  /// writes: every acknowledged write is there, and the next compaction leaves the history with
  /// every change exactly once.
  @Test(arguments: CompactionStep.allCases)
  func aCompactionKilledAtEachStepLosesNoWriteAndNoHistory(step: CompactionStep) throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writer = try FileContactRepository(directory: path)
    let reader = try FileContactRepository(directory: path)
    var ids: Set<String> = []
    for index in 0..<40 { ids.insert(try Self.create(writer, "Seed \(index)")) }
    _ = try writer.commit(by: "tester") { state in
      var contact = try #require(state.entries.first).contact
      contact.name = "Renamed"
      return .update(contact)
    }
    _ = try reader.currentState()

    let process = Process()
    process.executableURL = URL(fileURLWithPath: serviceBinary)
    process.arguments = ["compact", "--data-dir", path, "--test-pause-at", step.rawValue]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    let paused = output.fileHandleForReading.availableData
    #expect(String(decoding: paused, as: UTF8.self) == "paused at \(step.rawValue)\n")

    // Writes acknowledged while the compaction is stopped at the step. At `journalReplaced` it
    // holds the write lock: these wait for the kill, then go on in whichever journal is current.
    let during = startThread { () -> Result<[String], any Error> in
      Result {
        let other = try FileContactRepository(directory: path)
        return try (0..<15).map { try Self.create(other, "During \($0)") }
      }
    }
    if step != .journalReplaced { usleep(300_000) }
    kill(process.processIdentifier, SIGKILL)
    #expect(waitUntilExited(process), "the compaction still runs after its SIGKILL")
    // Killed, not finished: checked once Foundation has reaped it (it usually has by now).
    if eventually(within: 2, { !process.isRunning }) { #expect(process.terminationReason == .uncaughtSignal) }
    ids.formUnion(try during().get())
    for index in 0..<5 { ids.insert(try Self.create(writer, "After \(index)")) }
    #expect(Set(try reader.currentState().entries.map(\.contact.id)) == ids)
    #expect(StoreCheck.run(directory: path).isHealthy)
    #expect(Set(try FileContactRepository(directory: path).currentState().entries.map(\.contact.id)) == ids)

    // Run again: it finishes what the killed one began, repeating nothing.
    try FileContactRepository(directory: path).compact()
    try Self.expectIntact(path, ids: ids)
    #expect(Set(try reader.currentState().entries.map(\.contact.id)) == ids)
  }
}
