import ContactsCore
import Foundation
import Platform
import TestSupport
import Testing

@testable import ContactsStore

#if canImport(Glibc)
  import Glibc
#endif

/// Group commit: writers append under the write lock and flush after letting go of it, readers
/// apply only what the durable watermark (`journal.watermark`) covers, and a failed flush
/// poisons everything past it. Beside the single-writer fault and kill tests
/// (`StoreHardeningTests`, `CompactionTests`, the end-to-end `StoreDurabilityTests`), which hold
/// unchanged.
struct GroupCommitTests {
  static func custom(_ name: String) -> Contact {
    Contact(id: UUID().uuidString.lowercased().filter { $0 != "-" }, type: .custom, name: name, phoneNumber: "1")
  }

  static func create(_ repository: FileContactRepository, _ name: String) throws -> String {
    let contact = custom(name)
    _ = try repository.commit(by: "tester") { _ in .create(contact) }
    return contact.id
  }

  static func names(_ repository: FileContactRepository) throws -> [String] {
    try repository.currentState().entries.map(\.contact.name).sorted()
  }

  /// Appends a create of `contact` at `sequence` to the journal without flushing it, as a writer
  /// killed between its write(2) and its fdatasync leaves it (or one still flushing).
  static func appendUnflushed(_ contact: Contact, sequence: UInt64, by user: String, in directory: TemporaryDirectory)
    throws
  {
    let record = JournalRecord(
      sequence: sequence, timestamp: "2026-01-01T00:00:00.000Z", user: user, operation: .change(.create(contact)))
    let journal = try FileDescriptor(open: directory.file("journal.jsonl"), [.writeOnly, .append])
    try journal.writeAll(record.line)
  }

  static func journalSize(_ directory: TemporaryDirectory) throws -> Int64 {
    try #require(try FileSystem.identity(of: directory.file("journal.jsonl"))).size
  }

  /// `contacts-bench`, whose `--store-writer` commits creates through `FileContactRepository`.
  static let benchBinary: String =
    ProcessInfo.processInfo.environment["CONTACTS_BENCH_BINARY"]
    ?? packageRoot.appendingPathComponent(".build/debug/contacts-bench").path

  static let ioError = SystemError(syscall: "fdatasync", path: "journal.jsonl", code: EIO)

  /// The names a reader serves, or `["unreadable"]`.
  static func namesOrNothing(_ repository: FileContactRepository) -> [String] {
    (try? names(repository)) ?? ["unreadable"]
  }

  /// Another worker's create in a repository of its own, which signals `appended` when its line
  /// is written and it is about to flush, and waits there for `release`.
  static func createWaitingInFlush(
    _ path: String, _ name: String, appended: DispatchSemaphore, release: DispatchSemaphore
  ) -> Result<String, any Error> {
    do {
      let repository = try FileContactRepository(directory: path)
      repository.faultInjection = { operation throws(SystemError) in
        guard operation == .sync else { return }
        appended.signal()
        release.wait()
      }
      return .success(try create(repository, name))
    } catch {
      return .failure(error)
    }
  }

  /// (a) Writer A's flush fails after writer B appended past A's line (and before B's flush
  /// returns): A raises the epoch and cuts the journal back to the watermark, both answer 503,
  /// no acknowledged record is lost, and no reader ever served A's or B's line.
  @Test func aFailedFlushAfterAnotherWriterAppendedPastItAnswers503ToBoth() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writerA = try FileContactRepository(directory: path)
    let reader = try FileContactRepository(directory: path)
    _ = try Self.create(writerA, "Acknowledged")
    let watermarked = try Self.journalSize(directory)
    let bAppended = DispatchSemaphore(value: 0)
    let aAnswered = DispatchSemaphore(value: 0)
    var writerB: (@Sendable () -> Result<String, any Error>)?
    var namesDuringFlush: [String] = []
    var sizeDuringFlush: Int64 = 0
    writerA.faultInjection = { operation throws(SystemError) in
      guard operation == .sync else { return }
      // A has appended and let go of the lock. B (another worker) appends past it, then waits
      // in its own flush until A has answered.
      writerB = startThread { Self.createWaitingInFlush(path, "B", appended: bAppended, release: aAnswered) }
      bAppended.wait()
      namesDuringFlush = Self.namesOrNothing(reader)
      sizeDuringFlush = (try? FileSystem.identity(of: directory.file("journal.jsonl")))??.size ?? 0
      throw Self.ioError
    }
    #expect(throws: ContactStoreUnavailable.self) { try Self.create(writerA, "A") }
    #expect(try Self.journalSize(directory) == watermarked, "cut back to the watermark")
    aAnswered.signal()
    let waitForB = try #require(writerB)
    let answerB = waitForB()
    #expect(throws: ContactStoreUnavailable.self) { try answerB.get() }

    #expect(sizeDuringFlush > watermarked, "both lines were complete in the file")
    #expect(namesDuringFlush == ["Acknowledged"], "a reader served neither")
    #expect(try Self.names(reader) == ["Acknowledged"])
    #expect(try Self.names(FileContactRepository(directory: path)) == ["Acknowledged"])
    #expect(StoreCheck.run(directory: path).isHealthy)

    // Both workers reload and go on; so does the reader.
    writerA.faultInjection = nil
    _ = try Self.create(writerA, "After")
    #expect(try Self.names(reader) == ["Acknowledged", "After"])
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy && check.notes.isEmpty)
    #expect(check.durableBytes == check.journalBytes)
  }

  /// (b) A complete line past the watermark (a writer killed between its write and its flush,
  /// or one still flushing) is not applied by readers, new workers included; once another
  /// writer's flush covers it, it is.
  @Test func aReaderAppliesACompleteLineOnlyOnceTheWatermarkCoversIt() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writer = try FileContactRepository(directory: path)
    let reader = try FileContactRepository(directory: path)
    _ = try Self.create(writer, "First")

    try Self.appendUnflushed(Self.custom("Second"), sequence: 2, by: "killed", in: directory)
    #expect(try Self.names(reader) == ["First"])
    #expect(try Self.names(FileContactRepository(directory: path)) == ["First"])
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy)
    #expect(check.notes.contains { $0.contains("past the durable watermark") })

    // The next writer decides on it under the lock, and its flush covers it.
    var seenBeforeFlush: [String] = []
    writer.groupCommitHook = { seenBeforeFlush = (try? Self.names(reader)) ?? [] }
    _ = try Self.create(writer, "Third")
    #expect(seenBeforeFlush == ["First"], "the new line is complete but not yet flushed")
    #expect(try Self.names(reader) == ["First", "Second", "Third"])
    #expect(StoreCheck.run(directory: path).notes.isEmpty)
  }

  /// A complete line that lingers past the watermark with the journal untouched for a second or
  /// more (its writer killed before its flush, or a worker of a version before group commit that
  /// flushed it itself, during a rolling reload) is flushed by the next reader, under the lock,
  /// and served: no write stays unseen until the next one.
  @Test func aReaderFlushesALineLeftPastTheWatermarkOnceTheJournalIsQuiet() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writer = try FileContactRepository(directory: path)
    let reader = try FileContactRepository(directory: path)
    _ = try Self.create(writer, "First")
    try Self.appendUnflushed(Self.custom("Lingering"), sequence: 2, by: "old-version", in: directory)
    let journalPath = directory.file("journal.jsonl")
    #expect(try Self.names(reader) == ["First"], "just written: its writer may be flushing")
    try FileManager.default.setAttributes(
      [.modificationDate: Date(timeIntervalSinceNow: -10)], ofItemAtPath: journalPath)
    #expect(try Self.names(reader) == ["First", "Lingering"])
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy && check.notes.isEmpty)
    #expect(check.durableBytes == check.journalBytes)
  }

  /// (c) A writer whose line another writer's flush covered (that writer appended after it and
  /// flushed first) does not flush at all: one `fdatasync` for two acknowledged writes.
  @Test func aWriterWhoseLineAnotherFlushCoveredDoesNotFlush() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let first = try FileContactRepository(directory: path)
    let second = try FileContactRepository(directory: path)
    _ = try Self.create(first, "Warm-up")
    var firstSyncs = 0
    var secondSyncs = 0
    first.faultInjection = { operation throws(SystemError) in if operation == .sync { firstSyncs += 1 } }
    second.faultInjection = { operation throws(SystemError) in if operation == .sync { secondSyncs += 1 } }
    var interleaved = false
    first.groupCommitHook = {
      // `first` has appended and let go of the lock: `second` appends after it and flushes.
      guard !interleaved else { return }
      interleaved = true
      _ = try? Self.create(second, "Second")
    }
    _ = try Self.create(first, "First")
    #expect(interleaved)
    #expect(secondSyncs == 1)
    #expect(firstSyncs == 0, "covered by the other writer's flush")
    #expect(try Self.names(FileContactRepository(directory: path)) == ["First", "Second", "Warm-up"])
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy && check.notes.isEmpty)

    // Alone, a writer flushes its own line.
    _ = try Self.create(first, "Alone")
    #expect(firstSyncs == 1)
  }

  /// (d) Several processes committing at once through `FileContactRepository`, each SIGKILLed at
  /// a random moment (mid-append, mid-flush, mid-publish): afterwards every write a process
  /// reported acknowledged is there, and the directory checks clean.
  @Test func writerProcessesKilledAtRandomMomentsLoseNoAcknowledgedWrite() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    _ = try FileContactRepository(directory: path)
    var acknowledged: Set<String> = []
    for _ in 0..<5 {
      let writers = try (0..<4).map { _ -> (Process, Pipe) in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.benchBinary)
        process.arguments = ["--store-writer", path, "20000", "--print-acknowledged"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, output)
      }
      defer { for (process, _) in writers where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
      usleep(UInt32.random(in: 300_000...700_000))  // started, and writing
      for (process, _) in writers.shuffled() {
        usleep(UInt32.random(in: 0...60_000))
        kill(process.processIdentifier, SIGKILL)
      }
      for (process, output) in writers {
        #expect(waitUntilExited(process), "a writer still runs after its SIGKILL")
        let text = String(decoding: drain(output), as: UTF8.self)
        // Only whole lines: a kill may fall in the middle of printing an id (it was acknowledged
        // all the same, but is not counted).
        acknowledged.formUnion(
          text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).filter { $0.count == 32 })
      }
    }
    #expect(acknowledged.count > 20, "the writers got to write")
    let ids = Set(try FileContactRepository(directory: path).currentState().entries.map(\.contact.id))
    #expect(acknowledged.subtracting(ids).isEmpty, "every acknowledged write survived")
    #expect(StoreCheck.run(directory: path).isHealthy)
    // A new write flushes whatever killed writers left complete; then all of it is durable.
    _ = try Self.create(FileContactRepository(directory: path), "After")
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy)
    #expect(check.durableBytes == check.journalBytes)
  }

  /// (e) After a reboot the watermark file holds whatever reached the disk, about files whose
  /// inode numbers may be reused; or it is missing (removed, or a directory restored from a
  /// backup). Either way the next process syncs the journal and makes it again: nothing is lost,
  /// and lines that were complete but unflushed become durable and visible.
  @Test(arguments: ["reboot", "missing", "half-written"])
  func aStaleOrMissingWatermarkIsMadeAgainAndLosesNothing(_ how: String) throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writer = try FileContactRepository(directory: path)
    var ids: Set<String> = []
    for index in 0..<5 { ids.insert(try Self.create(writer, "Before \(index)")) }
    let orphan = Self.custom("Unflushed")
    try Self.appendUnflushed(orphan, sequence: 6, by: "killed", in: directory)

    let watermark = directory.file("journal.watermark")
    switch how {
    case "reboot":
      // Another boot's id (words 2 and 3), a durable length past the end, an inode of another file.
      let words = try SharedWords(path: watermark, count: 16)
      words.store(words[2] ^ 0xdead_beef, at: 2)
      words.store(1 << 40, at: 6)
    case "missing":
      try FileSystem.removeIfPresent(watermark)
    default:
      // A writer killed while changing it: the sequence word left odd.
      let words = try SharedWords(path: watermark, count: 16)
      words.store(words[1] | 1, at: 1)
    }
    #expect(StoreCheck.run(directory: path).isHealthy)

    let fresh = try FileContactRepository(directory: path)
    #expect(try fresh.currentState().contact(id: orphan.id) != nil, "synced, then counted")
    #expect(Set(try fresh.currentState().entries.map(\.contact.id)) == ids.union([orphan.id]))
    ids.insert(orphan.id)
    // The old worker, whose mapping may be of a removed file, writes on with the new record.
    ids.insert(try Self.create(writer, "After"))
    #expect(Set(try fresh.currentState().entries.map(\.contact.id)) == ids)
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy && check.notes.isEmpty)
    #expect(check.durableBytes == check.journalBytes)
  }

  /// A backup copies the journal up to the watermark: every acknowledged write, and no line that
  /// a failed flush could still cut off.
  @Test func aBackupCopiesTheJournalUpToTheWatermark() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writer = try FileContactRepository(directory: path)
    var ids: Set<String> = []
    for index in 0..<3 { ids.insert(try Self.create(writer, "Acknowledged \(index)")) }
    try Self.appendUnflushed(Self.custom("Not yet flushed"), sequence: 4, by: "flushing", in: directory)
    let target = TemporaryDirectory()
    let report = try Backup.run(from: path, to: target.file("copy"))
    #expect(report.check.isHealthy)
    let copy = try FileContactRepository(directory: target.file("copy"))
    #expect(Set(try copy.currentState().entries.map(\.contact.id)) == ids)
  }

  /// A write appended before a compaction replaced the journal, whose flush of the old file then
  /// fails, is acknowledged all the same: the compaction copied it into the new journal and
  /// synced that before the rename.
  @Test func aLineCopiedByACompactionIsAcknowledgedEvenIfItsOwnFlushFails() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let writer = try FileContactRepository(directory: path)
    let compactor = try FileContactRepository(directory: path)
    var ids: Set<String> = []
    for index in 0..<10 { ids.insert(try Self.create(writer, "Before \(index)")) }
    var compacted = false
    writer.groupCommitHook = {
      guard !compacted else { return }
      compacted = true
      try? compactor.compact()
    }
    writer.faultInjection = { operation throws(SystemError) in
      if operation == .sync { throw Self.ioError }
    }
    ids.insert(try Self.create(writer, "During"))
    #expect(compacted)
    writer.faultInjection = nil
    #expect(Set(try compactor.currentState().entries.map(\.contact.id)) == ids)
    #expect(Set(try FileContactRepository(directory: path).currentState().entries.map(\.contact.id)) == ids)
    #expect(StoreCheck.run(directory: path).isHealthy)
  }
}

/// Deferred durability (`defersDurability`), as a worker that holds its answers uses it: commits
/// return once written, one flush in `settleWrites()` covers them all, nobody else sees them
/// before it, and a failed flush loses them all and says so.
struct DeferredDurabilityTests {
  struct Refused: Error {}

  @Test func commitsWaitForSettleAndOneFlushCoversThemAll() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let worker = try FileContactRepository(directory: path)
    let other = try FileContactRepository(directory: path)
    _ = try GroupCommitTests.create(worker, "Before")
    worker.defersDurability = true
    var syncs = 0
    worker.faultInjection = { operation throws(SystemError) in if operation == .sync { syncs += 1 } }

    #expect(!worker.hasUnsettledWrites)
    _ = try GroupCommitTests.create(worker, "One")
    _ = try GroupCommitTests.create(worker, "Two")
    // A refusal decided on the unsettled lines is unsettled too: the worker serves its state next.
    #expect(throws: Refused.self) {
      _ = try worker.commit(by: "tester") { _ in throw Refused() }
    }
    _ = try GroupCommitTests.create(worker, "Three")
    #expect(worker.hasUnsettledWrites)
    #expect(syncs == 0, "nothing flushed before settleWrites")
    // The worker's own state holds its writes (its next answers are held with them) ...
    #expect(try GroupCommitTests.names(worker) == ["Before", "One", "Three", "Two"])
    // ... and no other reader applies them before they are durable.
    #expect(try GroupCommitTests.names(other) == ["Before"])
    #expect(try GroupCommitTests.names(FileContactRepository(directory: path)) == ["Before"])

    try worker.settleWrites()
    #expect(!worker.hasUnsettledWrites)
    #expect(syncs == 1, "one flush for the three lines")
    #expect(try GroupCommitTests.names(other) == ["Before", "One", "Three", "Two"])
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy && check.notes.isEmpty)
    #expect(check.durableBytes == check.journalBytes)

    try worker.settleWrites()  // nothing to settle: no flush
    #expect(syncs == 1)
  }

  @Test func aFailedSettleLosesEveryUnsettledWriteAndTheWorkerGoesOn() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let worker = try FileContactRepository(directory: path)
    _ = try GroupCommitTests.create(worker, "Acknowledged")
    let durable = try GroupCommitTests.journalSize(directory)
    worker.defersDurability = true
    worker.faultInjection = { operation throws(SystemError) in
      if operation == .sync { throw GroupCommitTests.ioError }
    }
    _ = try GroupCommitTests.create(worker, "Lost 1")
    _ = try GroupCommitTests.create(worker, "Lost 2")
    #expect(throws: ContactStoreUnavailable.self) { try worker.settleWrites() }
    #expect(!worker.hasUnsettledWrites)
    #expect(try GroupCommitTests.journalSize(directory) == durable, "cut back to the watermark")

    // The worker reloads and serves what is durable; later writes settle normally.
    worker.faultInjection = nil
    #expect(try GroupCommitTests.names(worker) == ["Acknowledged"])
    _ = try GroupCommitTests.create(worker, "After")
    try worker.settleWrites()
    #expect(try GroupCommitTests.names(FileContactRepository(directory: path)) == ["Acknowledged", "After"])
    let check = StoreCheck.run(directory: path)
    #expect(check.isHealthy && check.notes.isEmpty)
  }

  /// While a worker holds a write, another writer's flush fails (the journal is cut back below
  /// the held line) and a third writes and flushes past the held line's offset: the watermark
  /// is then past it, but it is not that line. The held write must not be acknowledged.
  @Test func aHeldWriteCutByAnotherWritersFailedFlushIsNotAcknowledgedWhenLaterLinesPassIt() throws {
    let directory = TemporaryDirectory()
    let path = directory.path
    let worker = try FileContactRepository(directory: path)
    let failing = try FileContactRepository(directory: path)
    let third = try FileContactRepository(directory: path)
    _ = try GroupCommitTests.create(worker, "Acknowledged")
    worker.defersDurability = true
    _ = try GroupCommitTests.create(worker, "Held")
    let heldEnd = try GroupCommitTests.journalSize(directory)

    failing.faultInjection = { operation throws(SystemError) in
      if operation == .sync { throw GroupCommitTests.ioError }
    }
    #expect(throws: ContactStoreUnavailable.self) { try GroupCommitTests.create(failing, "Failed") }
    for index in 0..<3 { _ = try GroupCommitTests.create(third, "Later \(index)") }
    #expect(try GroupCommitTests.journalSize(directory) > heldEnd, "later lines passed the held line's offset")

    #expect(throws: ContactStoreUnavailable.self) { try worker.settleWrites() }
    let names = try GroupCommitTests.names(FileContactRepository(directory: path))
    #expect(names == ["Acknowledged", "Later 0", "Later 1", "Later 2"])
    #expect(try GroupCommitTests.names(worker) == names, "the worker reloads without it")
    #expect(StoreCheck.run(directory: path).isHealthy)
  }

  @Test func noCompactionWhileWritesAreUnsettled() throws {
    let directory = TemporaryDirectory()
    let worker = try FileContactRepository(directory: directory.path)
    worker.compactionThresholdBytes = 1
    worker.defersDurability = true
    for index in 0..<20 { _ = try GroupCommitTests.create(worker, "Contact \(index)") }
    #expect(worker.compactionIsDue)
    worker.performMaintenance()
    #expect(worker.lastCompaction == nil, "not while answers wait for a flush")
    try worker.settleWrites()
    worker.performMaintenance()
    #expect(worker.lastCompaction != nil)
    #expect(try GroupCommitTests.names(FileContactRepository(directory: directory.path)).count == 20)
  }
}
