import ContactsCore
import Platform

/// The journal syscalls a test can make fail (`FileContactRepository.faultInjection`).
public enum JournalOperation: Sendable {
  /// Reading the journal's new lines (a refresh or a reload).
  case read
  /// Appending a record.
  case append
  /// `fdatasync` after an append.
  case sync
}

/// `journal.jsonl`: a header line naming the snapshot generation it continues from, then one
/// `JournalRecord` per line, each record's first sequence number one more than the last of the
/// record before.
///
/// A line counts once it ends in `\n`. A writer killed mid-append leaves a torn last line:
/// readers ignore it and the next writer, under the lock, cuts it off (`cutTornTail()`). An
/// unreadable line followed by complete ones, or a gap in the sequence numbers, is damage and
/// is reported with its line, never skipped.
///
/// One `Journal` is one open file and how far it has been read and accepted. When a compaction
/// renames a new journal into place, this one still reads the old file, to its end.
///
/// Not thread-safe; not a lock: writers hold the data directory's lock around `write` (and
/// `flush` after letting go of it: see `DurableWatermark`).
final class Journal {
  private let file: FileDescriptor
  /// The file as opened (the path may name another file after a compaction).
  let identity: FileIdentity
  /// Bytes accepted: always the end of a complete line (0 before the header is read).
  private(set) var offset: Int64 = 0
  /// Complete lines accepted, the header included: the line number of the last one.
  private(set) var lines = 0
  /// The snapshot generation this journal continues from, once its header is read.
  private(set) var base: UInt64?
  /// Test seam, called before each read, write and sync (see `FileContactRepository`).
  var faultInjection: ((JournalOperation) throws(SystemError) -> Void)?
  private let log: (String) -> Void

  private init(file: consuming FileDescriptor, identity: FileIdentity, log: @escaping (String) -> Void) {
    self.file = file
    self.identity = identity
    self.log = log
  }

  /// Opens the journal at `path`, not yet read.
  ///
  /// - Parameter writable: `false` for a reader that must not change a byte (`StoreCheck`).
  static func open(_ path: String, writable: Bool = true, log: @escaping (String) -> Void = { _ in })
    throws(StoreError) -> Journal
  {
    try StoreError.wrapping { () throws(SystemError) in
      let file = try FileDescriptor(open: path, writable ? [.readWrite, .append] : .readOnly)
      let identity = try file.identity()
      return Journal(file: file, identity: identity, log: log)
    }
  }

  /// Puts a journal holding only its header (continuing from snapshot generation `base`) at
  /// `path`, replacing any journal there by an atomic rename (see `FileSystem.replaceAtomically`).
  static func create(_ path: String, base: UInt64) throws(StoreError) {
    try StoreError.wrapping { () throws(SystemError) in
      try FileSystem.replaceAtomically(path, with: JournalRecord.header(base: base))
    }
  }

  // MARK: Reading

  /// Reads and accepts the header line alone.
  ///
  /// - Returns: the base generation, or `nil` when the first line is not a complete header.
  func readHeader() throws(StoreError) -> UInt64? {
    precondition(offset == 0, "the header is the first line")
    let bytes = try read()
    guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")), let base = JournalRecord.base(fromHeader: bytes[..<end])
    else { return nil }
    self.base = base
    offset = Int64(end + 1)
    lines = 1
    return base
  }

  /// The records in the complete lines past `offset`, checked, and accepted: `offset` moves
  /// past them. A torn last line is left where it is (readers ignore it).
  ///
  /// - Parameters:
  ///   - generation: where the reader stands. Records at or below it are skipped (a journal
  ///     older than the snapshot read still holds them); the next must be one more.
  ///   - limit: read no further than this offset (the durable watermark, for a reader); `nil`
  ///     for the whole file. A line that crosses it is left for later, as a torn one is.
  ///   - prescanned: this journal's `prescan(upTo: limit)`, taken when it fits (see
  ///     `Prescan.scan(after:)`), else the journal is read here.
  /// - Throws: `StoreError.damaged` naming the line for a bad header, an unreadable record
  ///   followed by more, or a gap; then nothing is accepted.
  func readTail(after generation: UInt64, upTo limit: Int64? = nil, prescanned: Prescan? = nil) throws(StoreError)
    -> [Entry]
  {
    if let limit, limit <= offset { return [] }
    let scan: Scan
    if offset == 0, let prescanned, prescanned.limit == limit, let ready = prescanned.scan(after: generation) {
      scan = ready
    } else {
      scan = Scan(try read(upTo: limit), at: offset, firstLine: lines + 1, after: generation)
    }
    if let problem = scan.problems.first {
      throw .damaged(file: StoreLayout.journalName, line: problem.line, reason: problem.reason)
    }
    if let base = scan.base { self.base = base }
    offset += Int64(scan.length)
    lines += scan.lines
    return scan.entries
  }

  /// The journal up to `limit`, read now and scanned on a thread of its own from its header on,
  /// for a reader that does not know its generation yet: a worker loading the data directory
  /// reads the journal while it parses the snapshot. `readTail(after:upTo:prescanned:)` takes
  /// the scan once the generation is known.
  ///
  /// - Returns: `nil` when some of this journal was read already, or its first line is not a
  ///   complete header (`readTail` alone reads and judges it then).
  func prescan(upTo limit: Int64?) throws(StoreError) -> Prescan? {
    guard offset == 0 else { return nil }
    let bytes = try read(upTo: limit)
    guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")), let base = JournalRecord.base(fromHeader: bytes[..<end])
    else { return nil }
    let work = BackgroundWork { () -> (Scan, [UInt64: IndexedContact]) in
      let scan = Scan(bytes, at: 0, firstLine: 1, after: base)
      var indexed: [UInt64: IndexedContact] = [:]
      indexed.reserveCapacity(scan.entries.count)
      for entry in scan.entries {
        for (change, sequence) in entry.record.contactChanges {
          switch change {
          case .create(var contact), .update(var contact):
            contact.version = sequence
            indexed[sequence] = IndexedContact(contact)
          case .delete:
            continue
          }
        }
      }
      return (scan, indexed)
    }
    return Prescan(limit: limit, base: base, work: work)
  }

  /// A scan started by `prescan(upTo:)`: the records after the header's base generation, and
  /// the contact each of their creates and updates leaves, indexed, by sequence number.
  struct Prescan {
    let limit: Int64?
    let base: UInt64
    let work: BackgroundWork<(Scan, [UInt64: IndexedContact])>

    /// The contact each create and update leaves, by the change's sequence number, indexed on
    /// the other thread (a loader builds the state from them rather than indexing them again).
    var indexedContacts: [UInt64: IndexedContact] { work.join().1 }

    /// The scan `Scan(bytes, at: 0, firstLine: 1, after: generation)` would make: the same
    /// walk, without the records up to `generation`. `nil` when it might differ: damage or a
    /// gap (the reader at `generation` may not see it, or may word it otherwise), a generation
    /// before the base, or a batch across `generation` (damage to that reader).
    func scan(after generation: UInt64) -> Scan? {
      var scan = work.join().0
      guard scan.problems.isEmpty, generation >= base else { return nil }
      let skipped = scan.entries.prefix { $0.record.sequence <= generation }.count
      if skipped < scan.entries.count, scan.entries[skipped].record.firstSequence <= generation { return nil }
      scan.entries.removeFirst(skipped)
      scan.generation = max(scan.generation, generation)
      return scan
    }
  }

  /// What lies past `offset`, read and checked but not accepted: problems are listed, not
  /// thrown (`StoreCheck` reports them all).
  ///
  /// - Throws: `StoreError.system` when the file cannot be read.
  func scan(after generation: UInt64) throws(StoreError) -> Scan {
    Scan(try read(), at: offset, firstLine: lines + 1, after: generation)
  }

  /// The file's size now (it may differ from `identity.size`, taken when it was opened).
  func currentSize() throws(StoreError) -> Int64 {
    try StoreError.wrapping { () throws(SystemError) in try file.identity().size }
  }

  /// Where the complete lines from `start` on end: `start` plus the bytes up to the last `\n`
  /// after it (`start` when there is none). Does not move `offset`.
  func completeLength(from start: Int64) throws(StoreError) -> Int64 {
    let bytes = try StoreError.wrapping { () throws(SystemError) in try file.readToEnd(from: start) }
    return start + Int64((bytes.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1)
  }

  /// The bytes from `start` up to `offset` (complete lines, already accepted): what a
  /// compaction carries over into the journal that replaces this one.
  func acceptedBytes(from start: Int64) throws(StoreError) -> [UInt8] {
    let end = offset
    return try StoreError.wrapping { () throws(SystemError) in
      Array(try file.readToEnd(from: start).prefix(Int(max(0, end - start))))
    }
  }

  /// The records in the file's first `length` bytes (`offset` does not move): what a
  /// compaction folds.
  func records(upTo length: Int64) throws(StoreError) -> [Entry] {
    let bytes = try StoreError.wrapping { () throws(SystemError) in try file.readToEnd(from: 0) }
    let scan = Scan(Array(bytes.prefix(Int(length))), at: 0, firstLine: 1, after: base ?? 0)
    if let problem = scan.problems.first {
      throw .damaged(file: StoreLayout.journalName, line: problem.line, reason: problem.reason)
    }
    return scan.entries
  }

  /// The bytes past `offset` (up to `limit`, when given).
  private func read(upTo limit: Int64? = nil) throws(StoreError) -> [UInt8] {
    let offset = offset
    return try StoreError.wrapping { () throws(SystemError) in
      try faultInjection?(.read)
      let bytes = try file.readToEnd(from: offset)
      guard let limit, limit - offset < Int64(bytes.count) else { return bytes }
      return Array(bytes.prefix(Int(max(0, limit - offset))))
    }
  }

  // MARK: Writing (under the lock)

  /// Appends `record` and makes it durable with `fdatasync(2)` (`write`, then `flush`), cutting
  /// the line off again when either fails: a synchronous append, for a caller that holds the lock
  /// throughout. The store itself writes under the lock and flushes after it (group commit).
  func append(_ record: JournalRecord) throws(StoreError) {
    let start = offset
    try write(record)
    do throws(SystemError) {
      try flush()
    } catch {
      log("journal: sync of record \(record.sequence) failed, not acknowledged: \(error)")
      do {
        try file.truncate(to: start)
        offset = start
        lines -= 1
      } catch let truncation {
        log("journal: could not cut off the failed record \(record.sequence): \(truncation)")
      }
      throw .system(error)
    }
  }

  /// Writes `record`'s line at the end, without syncing it. The caller holds the lock and has
  /// read every complete line and cut off a torn tail, so `offset` is the end of the file.
  ///
  /// On failure (a short write, a full disk) the bytes written are cut off again at once, under
  /// the lock: nothing can have been appended after them.
  func write(_ record: JournalRecord) throws(StoreError) {
    let line = record.line
    do throws(SystemError) {
      try faultInjection?(.append)
      try file.writeAll(line)
    } catch {
      log("journal: write of record \(record.sequence) failed, not acknowledged: \(error)")
      do {
        try file.truncate(to: offset)
      } catch let truncation {
        // The next writer cuts it off under the lock (a torn line), or, if the line is whole,
        // it stays: a change answered with 503 may then be there after all.
        log("journal: could not cut off the failed record \(record.sequence): \(truncation)")
      }
      throw .system(error)
    }
    offset += Int64(line.count)
    lines += 1
  }

  /// `fdatasync(2)`, through the test seam (`.sync`): every byte written to the file before it
  /// began is on disk once it returns. Needs no lock (group commit flushes after letting go).
  /// A failure is never retried: the kernel may already have dropped the pages.
  func flush() throws(SystemError) {
    try faultInjection?(.sync)
    try file.syncData()
  }

  /// Cuts the file back to `length` and syncs: what a failed flush does to every line past the
  /// durable watermark. Under the lock.
  func cutBack(to length: Int64) throws(StoreError) {
    try StoreError.wrapping { () throws(SystemError) in
      try file.truncate(to: length)
      try file.syncData()
    }
  }

  /// `fdatasync(2)` of the whole file: makes durable a complete line that a writer killed
  /// between its write and its sync left in the page cache (under the lock, before a
  /// compaction copies such records elsewhere).
  func sync() throws(StoreError) {
    try StoreError.wrapping { () throws(SystemError) in try file.syncData() }
  }

  /// Cuts off whatever follows the last accepted line (a torn write) and syncs. Only under the
  /// lock, right after `readTail` accepted every complete line.
  ///
  /// - Returns: the number of bytes cut off, 0 when there were none.
  func cutTornTail() throws(StoreError) -> Int64 {
    try StoreError.wrapping { () throws(SystemError) in
      let size = try file.identity().size
      guard size > offset else { return 0 }
      try file.truncate(to: offset)
      try file.syncData()
      return size - offset
    }
  }
}

extension Journal {
  /// A record and where it stands in the journal.
  struct Entry: Equatable {
    /// Its line number (the header is line 1).
    var line: Int
    /// The byte offset where its line starts.
    var offset: Int64
    var record: JournalRecord
  }

  /// Something in the journal that no reader may step over.
  struct Problem: Equatable {
    var line: Int
    var reason: String
  }

  /// Journal bytes read from some offset and checked, without touching any file: every reader
  /// of the journal (workers and `StoreCheck`) goes through this one walk.
  struct Scan {
    /// The header's base generation, when the bytes start with the header.
    var base: UInt64?
    /// The records past the generation asked for, in order, each one more than the last.
    var entries: [Entry] = []
    /// Every readable record, those at or below the generation and those after a gap included.
    var readableRecords = 0
    /// Damage, in the order found; the walk goes on past all but a bad header.
    var problems: [Problem] = []
    /// The last line, when it is torn: without its `\n`, or (`complete`) whole but unreadable
    /// with no complete line after it. Readers ignore it; the next writer cuts it off.
    var tornTail: (line: Int, bytes: Int, complete: Bool)?
    /// The sequence number of the last record seen.
    var generation: UInt64
    /// Bytes of the complete lines walked (all but a torn tail), and how many lines.
    var length = 0
    var lines = 0

    /// - Parameters:
    ///   - offset: where `bytes` start in the file; 0 means they start with the header.
    ///   - firstLine: the line number of the first line in `bytes`.
    ///   - generation: records at or below it are skipped; the next must be one more.
    init(_ bytes: [UInt8], at offset: Int64, firstLine: Int, after generation: UInt64) {
      self.generation = generation
      let newline = UInt8(ascii: "\n")
      var position = 0
      while position < bytes.count {
        let line = firstLine + lines
        guard let end = bytes[position...].firstIndex(of: newline) else {
          tornTail = (line, bytes.count - position, false)
          break
        }
        let text = bytes[position..<end]
        if offset == 0 && position == 0 {
          guard let base = JournalRecord.base(fromHeader: text) else {
            problems.append(Problem(line: line, reason: "not a journal header"))
            break
          }
          self.base = base
        } else if let record = JournalRecord(line: text) {
          readableRecords += 1
          if record.firstSequence == self.generation + 1 {
            entries.append(Entry(line: line, offset: offset + Int64(position), record: record))
          } else if record.sequence > self.generation {
            problems.append(
              Problem(
                line: line,
                reason: "record \(record.firstSequence) follows generation \(self.generation): records are missing"))
          }
          self.generation = max(self.generation, record.sequence)
        } else if bytes[(end + 1)...].contains(newline) {
          problems.append(
            Problem(
              line: line,
              reason: "an unreadable record (at byte \(offset + Int64(position))) followed by more records"))
        } else {
          tornTail = (line, bytes.count - position, true)
          break
        }
        position = end + 1
        lines += 1
      }
      length = position
    }
  }
}
