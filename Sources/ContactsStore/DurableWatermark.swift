import Platform

/// `journal.watermark`: how much of the current journal is known to be on disk, shared by every
/// process that opens the data directory (pool workers, `import`, `compact`, `backup`), as a
/// few words of memory mapped from a small file (`SharedWords`). It is what group commit needs:
/// writers append under the write lock and `fdatasync` after letting go of it, so one flush
/// covers the lines of every writer that appended before it began; the watermark says which
/// lines a flush has covered.
///
/// What it holds, for the journal it names (device and inode: a compaction renames a new journal
/// into place):
///
/// - `durable`: the journal's first `durable` bytes are on disk. Always the end of a complete
///   line. Readers apply lines only up to it; a writer whose line ends at or below it does not
///   flush. It only rises, except when a re-initialisation or a compaction names another journal.
/// - `appended`: the end of the last line a writer appended (under the lock), at or above
///   `durable`. A writer about to flush reads it first: its flush covers every line up to it
///   (they were written before), so that is what it may raise `durable` to once the flush
///   succeeded. Always the end of a complete line, unlike the file's size, which a writer in
///   the middle of its `write(2)` can leave mid-line.
/// - `epoch`: raised by a writer whose flush failed, together with cutting the journal back to
///   `durable` (under the lock). A writer that appended (or decided) under one epoch and finds
///   another when it comes to publish acknowledges nothing: its line may have been cut.
/// - the boot it was written in (`/proc/sys/kernel/random/boot_id`): the file is never synced,
///   so after a crash it holds whatever reached the disk, and inode numbers are reused; a record
///   of another boot is not trusted but made again, after syncing the journal.
///
/// Every change is made under the directory's write lock (one writer at a time), with a sequence
/// word around it (odd while changing, a seqlock): lock-free readers (`read()`) retry while it
/// changes, and a record left half-written by a writer killed in the middle reads as no record at
/// all, which the next process under the lock makes again (`FileContactRepository.ensureWatermark`).
final class DurableWatermark {
  /// What the file says about one journal.
  struct Record: Equatable {
    var device: UInt64
    var inode: UInt64
    var durable: Int64
    var appended: Int64
    var epoch: UInt64

    init(journal: FileIdentity, durable: Int64, appended: Int64, epoch: UInt64) {
      self.init(device: journal.device, inode: journal.inode, durable: durable, appended: appended, epoch: epoch)
    }

    init(device: UInt64, inode: UInt64, durable: Int64, appended: Int64, epoch: UInt64) {
      self.device = device
      self.inode = inode
      self.durable = durable
      self.appended = appended
      self.epoch = epoch
    }

    /// Whether this record is about `journal` (the same file, whatever its size now).
    func names(_ journal: FileIdentity) -> Bool { device == journal.device && inode == journal.inode }
  }

  /// The words of the file, in order.
  private enum Word: Int, CaseIterable {
    /// `magic << 32 | version`: 0 in a new file.
    case layout = 0
    /// Even when the record is whole; odd while a writer changes it.
    case sequence
    case bootHigh, bootLow, device, inode, durable, appended, epoch
  }
  private static let layoutWord: UInt64 = 0x4357_4D4B << 32 | 1  // "CWMK", version 1
  private static let wordCount = 16

  private let path: String
  private let boot: (UInt64, UInt64)
  private var words: SharedWords

  /// Opens (creating it if needed) the watermark file of `layout`.
  ///
  /// - Throws: `StoreError.system` when it cannot be opened or mapped, or the boot id cannot be read.
  init(_ layout: StoreLayout) throws(StoreError) {
    path = layout.path(StoreLayout.watermarkName)
    let path = path
    (boot, words) = try StoreError.wrapping { () throws(SystemError) in
      (try SharedWords.bootIdentifier(), try SharedWords(path: path, count: Self.wordCount))
    }
  }

  // MARK: Reading (no lock)

  /// The record, read consistently without the lock; `nil` when there is none for this boot (a
  /// new or stale file) or it is half-written (a writer killed while changing it, or one that is
  /// taking longer than a few thousand tries: the caller then takes the lock).
  func read() -> Record? {
    for _ in 0..<4096 {
      let before = words[Word.sequence.rawValue]
      if before & 1 == 1 { continue }
      let record = decode()
      if words[Word.sequence.rawValue] == before { return record }
    }
    return nil
  }

  /// The durable length of `journal`, when the record is about it.
  func durable(for journal: FileIdentity) -> Int64? {
    guard let record = read(), record.names(journal) else { return nil }
    return record.durable
  }

  /// The record of the file at `layout` as its bytes are, read without mapping, creating or
  /// changing anything (for `check` and `backup`); `nil` when there is none for this boot.
  static func peek(_ layout: StoreLayout) -> Record? {
    guard let values = try? SharedWords.read(path: layout.path(StoreLayout.watermarkName)),
      values.count > Word.allCases.count, let boot = try? SharedWords.bootIdentifier(),
      values[Word.sequence.rawValue] & 1 == 0
    else { return nil }
    return decode({ values[$0.rawValue] }, boot: boot)
  }

  // MARK: Changing (under the write lock)

  /// The record as it stands, for a holder of the write lock (no other writer can be changing
  /// it); `nil` when there is none for this boot or a killed writer left it half-written.
  func current() -> Record? {
    words[Word.sequence.rawValue] & 1 == 0 ? decode() : nil
  }

  /// The epoch word as it stands, valid or not (a re-initialisation moves on from it).
  var rawEpoch: UInt64 { words[Word.epoch.rawValue] }

  /// Opens the file again when its path names another file or none (someone removed it): every
  /// process must read and write the same words. Under the write lock.
  func reopenIfReplaced() throws(StoreError) {
    let path = path
    let current = try StoreError.wrapping { () throws(SystemError) in try FileSystem.identity(of: path) }
    if let current, current.isSameFile(as: words.identity) { return }
    words = try StoreError.wrapping { () throws(SystemError) in try SharedWords(path: path, count: Self.wordCount) }
  }

  /// Whether the file was new (or cut short) when this process opened it.
  var wasNew: Bool { words.wasShort }

  /// Writes `record` (and this boot), bracketed by the sequence word. Under the write lock.
  func write(_ record: Record) {
    let sequence = words[Word.sequence.rawValue]
    let odd = sequence | 1  // a killed writer's odd value is already odd
    words.store(odd, at: Word.sequence.rawValue)
    words.store(Self.layoutWord, at: Word.layout.rawValue)
    words.store(boot.0, at: Word.bootHigh.rawValue)
    words.store(boot.1, at: Word.bootLow.rawValue)
    words.store(record.device, at: Word.device.rawValue)
    words.store(record.inode, at: Word.inode.rawValue)
    words.store(UInt64(record.durable), at: Word.durable.rawValue)
    words.store(UInt64(record.appended), at: Word.appended.rawValue)
    words.store(record.epoch, at: Word.epoch.rawValue)
    words.store(odd &+ 1, at: Word.sequence.rawValue)
  }

  private func decode() -> Record? {
    Self.decode({ words[$0.rawValue] }, boot: boot)
  }

  private static func decode(_ word: (Word) -> UInt64, boot: (UInt64, UInt64)) -> Record? {
    guard word(.layout) == layoutWord, word(.bootHigh) == boot.0, word(.bootLow) == boot.1 else { return nil }
    var record = Record(
      device: word(.device), inode: word(.inode), durable: Int64(bitPattern: word(.durable)),
      appended: Int64(bitPattern: word(.appended)), epoch: word(.epoch))
    record.appended = max(record.appended, record.durable)
    return record
  }
}
