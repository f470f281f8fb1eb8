import ContactsCore
import Foundation
import Platform
import TestSupport
import Testing

@testable import ContactsStore

#if canImport(Glibc)
  import Glibc
#endif

/// `Journal` on its own: what one process appends another reads, torn tails, damage.
struct JournalTests {
  let directory = TemporaryDirectory()
  var path: String { directory.file("journal.jsonl") }

  func record(_ sequence: UInt64, _ name: String = "C") -> JournalRecord {
    JournalRecord(
      sequence: sequence, timestamp: "2026-01-0\(sequence % 9 + 1)T00:00:00.000Z", user: "user\(sequence)",
      operation: .change(.create(Contact(id: "c\(sequence)", type: .custom, name: "\(name) \(sequence)"))))
  }

  /// A new journal at `base`, opened and read to its end like a writer does.
  func writer(base: UInt64 = 0) throws -> Journal {
    try Journal.create(path, base: base)
    let journal = try Journal.open(path)
    #expect(try journal.readTail(after: base).isEmpty)
    return journal
  }

  func appendRaw(_ text: String) throws {
    try FileDescriptor(open: path, [.writeOnly, .append]).writeAll(Array(text.utf8))
  }

  func size() throws -> Int64 { try #require(try FileSystem.identity(of: path)).size }

  @Test func whatOneAppendsAnotherReadsWithSequenceUserTimeAndContact() throws {
    let writer = try writer(base: 4)
    #expect(writer.base == 4 && writer.lines == 1)
    let records = (5...7).map { record($0) }
    for record in records { try writer.append(record) }
    #expect(writer.offset == (try size()))

    let reader = try Journal.open(path, writable: false)
    let entries = try reader.readTail(after: 4)
    #expect(entries.map(\.record) == records)
    #expect(entries.map(\.line) == [2, 3, 4])
    #expect(entries.map(\.record.user) == ["user5", "user6", "user7"])
    #expect(reader.base == 4 && reader.offset == writer.offset)
    let bytes = try #require(try FileSystem.contents(of: path))
    for entry in entries {
      #expect(JournalRecord(line: bytes[Int(entry.offset)...].prefix { $0 != UInt8(ascii: "\n") }) == entry.record)
    }

    // Only what is new since the last read; nothing when nothing is.
    try writer.append(record(8))
    #expect(try reader.readTail(after: 7).map(\.record) == [record(8)])
    #expect(try reader.readTail(after: 8).isEmpty)
  }

  /// A reader that already has some records (from a newer snapshot) skips them.
  @Test func recordsAtOrBelowTheReadersGenerationAreSkipped() throws {
    let writer = try writer()
    for sequence: UInt64 in 1...5 { try writer.append(record(sequence)) }
    let reader = try Journal.open(path)
    #expect(try reader.readTail(after: 3).map(\.record.sequence) == [4, 5])
    #expect(reader.offset == writer.offset)
  }

  @Test func aTornLastLineIsIgnoredByReadersAndCutOffByTheNextWriter() throws {
    let writer = try writer()
    try writer.append(record(1))
    let complete = try size()
    let torn = #"{"seq":2,"at":"2026-01-01T00:00:00.000Z","by":"x","op":"crea"#
    try appendRaw(torn)

    let reader = try Journal.open(path)
    #expect(try reader.readTail(after: 0).map(\.record.sequence) == [1])
    #expect(reader.offset == complete, "the torn line is not accepted")
    let scan = try reader.scan(after: 1)
    #expect(scan.problems.isEmpty && scan.entries.isEmpty)
    #expect(scan.tornTail?.line == 3 && scan.tornTail?.bytes == torn.utf8.count && scan.tornTail?.complete == false)

    // The next writer (under the lock, having read to the end) cuts it off and appends.
    #expect(try reader.cutTornTail() == Int64(torn.utf8.count))
    #expect(try size() == complete)
    #expect(try reader.cutTornTail() == 0)
    try reader.append(record(2))
    #expect(try Journal.open(path).readTail(after: 0).map(\.record.sequence) == [1, 2])
  }

  /// A whole line that cannot be read, with no complete line after it, is a torn write too.
  @Test func anUnreadableLastLineIsATornTail() throws {
    let writer = try writer()
    try writer.append(record(1))
    try appendRaw("{\"seq\":2,\"garbage\n{\"seq\":3")
    let reader = try Journal.open(path)
    #expect(try reader.readTail(after: 0).map(\.record.sequence) == [1])
    let scan = try reader.scan(after: 1)
    #expect(scan.problems.isEmpty)
    #expect(scan.tornTail?.line == 3 && scan.tornTail?.complete == true)
  }

  @Test func anUnreadableRecordFollowedByMoreIsDamageNamingItsLine() throws {
    let writer = try writer()
    try writer.append(record(1))
    try appendRaw("not json\n")
    try writer.append(record(2))
    let reader = try Journal.open(path)
    #expect(throws: StoreError.self) { try reader.readTail(after: 0) }
    #expect(reader.offset == 0 && reader.lines == 0, "nothing is accepted from a damaged tail")
    let scan = try reader.scan(after: 0)
    #expect(scan.problems.map(\.line) == [3])
    #expect(scan.problems.first?.reason.contains("followed by more records") == true)
    #expect(scan.entries.map(\.record.sequence) == [1, 2], "check goes on past the damage")
    do {
      _ = try reader.readTail(after: 0)
    } catch {
      guard case .damaged(let file, let line, _) = error else { throw error }
      #expect(file == "journal.jsonl" && line == 3)
    }
  }

  @Test func aGapInTheSequenceNumbersIsDamage() throws {
    let writer = try writer()
    try writer.append(record(1))
    try writer.append(record(3))
    let scan = Journal.Scan(try #require(try FileSystem.contents(of: path)), at: 0, firstLine: 1, after: 0)
    #expect(scan.base == 0)
    #expect(scan.problems == [Journal.Problem(line: 3, reason: "record 3 follows generation 1: records are missing")])
    #expect(scan.readableRecords == 2 && scan.generation == 3)
    #expect(throws: StoreError.self) { try Journal.open(path).readTail(after: 0) }
  }

  @Test func aFirstLineThatIsNoHeaderIsDamage() throws {
    try Data("\(String(decoding: record(1).line, as: UTF8.self))".utf8).write(to: URL(fileURLWithPath: path))
    let journal = try Journal.open(path)
    #expect(try journal.readHeader() == nil)
    #expect(try journal.scan(after: 0).problems == [Journal.Problem(line: 1, reason: "not a journal header")])
    #expect(throws: StoreError.self) { try journal.readTail(after: 0) }
  }

  /// A failed `fdatasync` is not acknowledged: the line is cut off again.
  @Test func aFailedSyncCutsTheLineOff() throws {
    let writer = try writer()
    try writer.append(record(1))
    let before = try size()
    writer.faultInjection = { (operation) throws(SystemError) in
      if operation == .sync { throw SystemError(syscall: "fdatasync", path: "journal.jsonl", code: EIO) }
    }
    #expect(throws: StoreError.self) { try writer.append(record(2)) }
    #expect(try size() == before)
    #expect(writer.offset == before)
    writer.faultInjection = nil
    try writer.append(record(2))
    #expect(try Journal.open(path).readTail(after: 0).map(\.record.sequence) == [1, 2])
  }

  /// `check` reports a gap with its line, through the same walk.
  @Test func checkReportsAGapWithItsLine() throws {
    let repository = try FileContactRepository(directory: directory.path)
    for name in ["One", "Two", "Three"] {
      _ = try repository.commit(by: "t") { _ in .create(Contact(id: name, type: .custom, name: name)) }
    }
    var lines = try #require(try FileSystem.contents(of: path)).split(separator: UInt8(ascii: "\n"))
    lines.remove(at: 2)  // record 2
    try Data(lines.joined(separator: [UInt8(ascii: "\n")]) + [UInt8(ascii: "\n")]).write(to: URL(fileURLWithPath: path))
    let check = StoreCheck.run(directory: directory.path)
    #expect(!check.isHealthy)
    #expect(check.damage.contains { $0.contains("line 3") && $0.contains("record 3 follows generation 1") })
    #expect(check.journalRecords == 2)
  }
}
