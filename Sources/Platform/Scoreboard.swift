internal import Glibc

/// Counters shared by the supervisor and its workers, like php-fpm's scoreboard: a small
/// region of memory every process of the pool maps. Each worker writes only its own slot;
/// the supervisor reads all of them to enforce request timeouts, and the status page reads
/// them to report. Values are aligned 64-bit words written and read whole, which is all
/// statistics need; nothing here guards data.
public final class Scoreboard {
  /// The descriptor a worker finds the scoreboard on (the supervisor puts it there).
  public static let workerDescriptor: Int32 = 3

  public enum WorkerState: Int64 {
    case free = 0
    case idle = 1
    case busy = 2
  }

  /// One worker's slot.
  public struct Slot {
    public var pid: Int32
    public var state: WorkerState
    public var requests: Int64
    public var slowRequests: Int64
    /// `Clock.monotonicNanoseconds()` when the current request began (when busy).
    public var requestStarted: UInt64
    public var generation: UInt64
    public var startedAt: Int

    public init(
      pid: Int32, state: WorkerState, requests: Int64 = 0, slowRequests: Int64 = 0, requestStarted: UInt64 = 0,
      generation: UInt64 = 0, startedAt: Int = 0
    ) {
      self.pid = pid
      self.state = state
      self.requests = requests
      self.slowRequests = slowRequests
      self.requestStarted = requestStarted
      self.generation = generation
      self.startedAt = startedAt
    }
  }

  public let descriptor: Int32
  public let slotCount: Int
  private let words: UnsafeMutablePointer<Int64>
  private static let headerWords = 8
  private static let slotWords = 8

  /// The pool-wide words at the start of the region (the rest of the header is spare).
  private enum Header: Int {
    case startedAt = 1
    case restarts, timeouts, retiredRequests, retiredSlowRequests
  }
  /// The words of one slot.
  private enum SlotWord: Int {
    case pid = 0
    case state, requests, slowRequests, requestStarted, generation, startedAt
  }

  private subscript(header: Header) -> Int64 {
    get { words[header.rawValue] }
    set { words[header.rawValue] = newValue }
  }

  /// A new scoreboard in an unlinked file under /dev/shm (or /tmp).
  ///
  /// - Throws: `SystemError` from `open`, `ftruncate` or `mmap`.
  public static func create(slots: Int) throws(SystemError) -> Scoreboard {
    var descriptor: Int32 = -1
    var failure = SystemError(syscall: "open", path: "/dev/shm", code: ENOENT)
    for folder in ["/dev/shm", "/tmp"] {
      let path = "\(folder)/contacts-scoreboard-\(getpid())-\(Clock.monotonicNanoseconds())"
      do {
        descriptor = try Syscall.call("open", path: path) { open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        Syscall.bestEffort("unlink") { unlink(path) }
        break
      } catch {
        failure = error
      }
    }
    guard descriptor >= 0 else { throw failure }
    let size = (headerWords + slots * slotWords) * MemoryLayout<Int64>.size
    let fd = descriptor
    try Syscall.call("ftruncate", path: "scoreboard") { ftruncate(fd, off_t(size)) }
    let scoreboard = try Scoreboard(descriptor: descriptor)
    scoreboard[.startedAt] = Int64(Clock.unixSeconds())
    return scoreboard
  }

  /// Maps the scoreboard a supervisor handed over on `descriptor`.
  public init(descriptor: Int32) throws(SystemError) {
    var status = stat()
    try Syscall.call("fstat", path: "scoreboard") { fstat(descriptor, &status) }
    let size = Int(status.st_size)
    guard size >= (Self.headerWords + Self.slotWords) * 8 else {
      throw SystemError(syscall: "mmap", path: "scoreboard", code: EINVAL)
    }
    // mmap(2) reports failure with MAP_FAILED, not -1: the one call Syscall.call cannot wrap.
    guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), memory != MAP_FAILED else {
      throw SystemError(syscall: "mmap", path: "scoreboard", code: errno)
    }
    self.descriptor = descriptor
    words = memory.bindMemory(to: Int64.self, capacity: size / 8)
    slotCount = (size / 8 - Self.headerWords) / Self.slotWords
  }

  // MARK: Pool-wide counters (the supervisor writes these)

  public var startedAt: Int { Int(self[.startedAt]) }
  public var restarts: Int64 {
    get { self[.restarts] }
    set { self[.restarts] = newValue }
  }
  public var timeouts: Int64 {
    get { self[.timeouts] }
    set { self[.timeouts] = newValue }
  }
  /// Requests served by workers that have since exited.
  public var retiredRequests: Int64 {
    get { self[.retiredRequests] }
    set { self[.retiredRequests] = newValue }
  }
  public var retiredSlowRequests: Int64 {
    get { self[.retiredSlowRequests] }
    set { self[.retiredSlowRequests] = newValue }
  }

  // MARK: Slots

  private func base(_ slot: Int) -> SlotWords {
    precondition(slot >= 0 && slot < slotCount, "scoreboard slot \(slot) out of range")
    return SlotWords(base: words + Self.headerWords + slot * Self.slotWords)
  }

  /// One slot's words, by name.
  private struct SlotWords {
    let base: UnsafeMutablePointer<Int64>
    subscript(word: SlotWord) -> Int64 {
      get { base[word.rawValue] }
      nonmutating set { base[word.rawValue] = newValue }
    }
  }

  public func slot(_ index: Int) -> Slot {
    let word = base(index)
    return Slot(
      pid: Int32(truncatingIfNeeded: word[.pid]), state: WorkerState(rawValue: word[.state]) ?? .free,
      requests: word[.requests], slowRequests: word[.slowRequests],
      requestStarted: UInt64(bitPattern: word[.requestStarted]), generation: UInt64(bitPattern: word[.generation]),
      startedAt: Int(word[.startedAt]))
  }

  /// A worker claims its slot when it starts.
  public func claim(_ index: Int, pid: Int32) {
    let word = base(index)
    word[.requests] = 0
    word[.slowRequests] = 0
    word[.requestStarted] = 0
    word[.startedAt] = Int64(Clock.unixSeconds())
    word[.pid] = Int64(pid)
    word[.state] = WorkerState.idle.rawValue
  }

  public func beginRequest(_ index: Int) {
    let word = base(index)
    word[.requestStarted] = Int64(bitPattern: Clock.monotonicNanoseconds())
    word[.state] = WorkerState.busy.rawValue
  }

  public func endRequest(_ index: Int, slow: Bool, generation: UInt64) {
    let word = base(index)
    word[.requests] += 1
    if slow { word[.slowRequests] += 1 }
    word[.generation] = Int64(bitPattern: generation)
    word[.state] = WorkerState.idle.rawValue
  }

  /// The supervisor frees a slot when its worker has exited, keeping its counts in the totals.
  public func release(_ index: Int) {
    let word = base(index)
    retiredRequests += word[.requests]
    retiredSlowRequests += word[.slowRequests]
    word[.state] = WorkerState.free.rawValue
    word[.pid] = 0
    word[.requests] = 0
    word[.slowRequests] = 0
  }
}
