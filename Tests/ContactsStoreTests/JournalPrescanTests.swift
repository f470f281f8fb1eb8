import ContactsCore
import Platform
import TestSupport
import Testing

@testable import ContactsStore

/// A worker loading the data directory scans the journal on a second thread before it knows its
/// generation (`Journal.prescan`), then takes the records after it. Whatever the journal holds,
/// and wherever the reader stands, that must read exactly as `readTail` alone would: the same
/// records, the same damage, the same place to go on from.
struct JournalPrescanTests {
  static func record(_ sequence: UInt64, first: UInt64? = nil) -> JournalRecord {
    let first = first ?? sequence
    let changes = (first...sequence).map { ContactChange.create(Contact(id: "c\($0)", type: .custom, name: "C \($0)")) }
    return JournalRecord(
      sequence: sequence, firstSequence: first, timestamp: "2026-01-01T00:00:00.000Z", user: "u",
      operation: changes.count == 1 ? .change(changes[0]) : .changes(changes))
  }

  /// Journals at base 10: plain records, a batch, copies of records before the base, a gap,
  /// an unreadable line, a torn tail, a bad header.
  static let journals: [(name: String, text: String)] = {
    func lines(_ records: [JournalRecord]) -> String {
      records.map { String(decoding: $0.line, as: UTF8.self) }.joined()
    }
    let header = String(decoding: JournalRecord.header(base: 10), as: UTF8.self)
    return [
      ("plain", header + lines((11...16).map { record($0) })),
      ("a batch of 13...15", header + lines([record(11), record(12), record(15, first: 13), record(16)])),
      ("copies before the base", header + lines([record(9), record(10), record(11), record(12)])),
      ("a gap after 12", header + lines([record(11), record(12), record(14), record(15)])),
      ("an unreadable line", header + lines([record(11)]) + "{\"seq\":12,\"at\n" + lines([record(13)])),
      ("a torn tail", header + lines([record(11), record(12)]) + "{\"seq\":13,\"at\":\"2026"),
      ("a bad header", "{\"journal\":1}\n" + lines([record(11)])),
      ("only the header", header),
    ]
  }()

  /// What a reader at `generation` reads from a fresh `Journal`: its records (or its error) and
  /// where it stands after.
  static func read(_ path: String, after generation: UInt64, upTo limit: Int64?, prescan: Bool) -> String {
    do {
      let journal = try Journal.open(path, writable: false)
      let prescanned = prescan ? try journal.prescan(upTo: limit) : nil
      let entries = try journal.readTail(after: generation, upTo: limit, prescanned: prescanned)
      let records = entries.map { "\($0.line)@\($0.offset):\($0.record.firstSequence)-\($0.record.sequence)" }
      return "\(records) offset \(journal.offset) lines \(journal.lines) base \(journal.base.map(String.init) ?? "-")"
    } catch {
      return "error: \(error)"
    }
  }

  @Test(arguments: journals.indices)
  func aPrescanReadsAsTheTailAloneWouldAtAnyGenerationAndLimit(journal: Int) throws {
    let (name, text) = Self.journals[journal]
    let directory = TemporaryDirectory()
    let path = directory.file("journal.jsonl")
    try FileSystem.replaceAtomically(path, with: Array(text.utf8))
    let newlines = text.utf8.enumerated().filter { $0.element == UInt8(ascii: "\n") }.map { Int64($0.offset + 1) }
    for limit in [nil, 0] + newlines + newlines.map({ $0 - 3 }) {
      for generation: UInt64 in 8...18 {
        let alone = Self.read(path, after: generation, upTo: limit, prescan: false)
        let prescanned = Self.read(path, after: generation, upTo: limit, prescan: true)
        #expect(prescanned == alone, "\(name), after \(generation), up to \(limit.map(String.init) ?? "the end")")
      }
    }
  }

  /// The prescan is used, not only correct when it is not: a plain journal read from its base or
  /// past it comes from the scan started on the other thread.
  @Test func aFittingPrescanIsTheOneTaken() throws {
    let directory = TemporaryDirectory()
    let path = directory.file("journal.jsonl")
    try FileSystem.replaceAtomically(path, with: Array(Self.journals[0].text.utf8))
    let journal = try Journal.open(path, writable: false)
    let prescanned = try #require(try journal.prescan(upTo: nil))
    #expect(prescanned.scan(after: 10)?.entries.map(\.record.sequence) == [11, 12, 13, 14, 15, 16])
    #expect(prescanned.scan(after: 13)?.entries.map(\.record.sequence) == [14, 15, 16])
    #expect(prescanned.scan(after: 9) == nil)  // before the base: the reader calls that a gap
    try FileSystem.replaceAtomically(path, with: Array(Self.journals[1].text.utf8))
    let batchScan = try #require(try Journal.open(path, writable: false).prescan(upTo: nil))
    #expect(batchScan.scan(after: 14) == nil)  // the batch 13...15 straddles it
    #expect(batchScan.scan(after: 15)?.entries.map(\.record.sequence) == [16])
  }
}
