#if canImport(Glibc)
  internal import Glibc
#endif

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

  /// A new scoreboard in an unlinked file under /dev/shm (or /tmp).
  ///
  /// - Throws: `SystemError` from `open`, `ftruncate` or `mmap`.
  public static func create(slots: Int) throws(SystemError) -> Scoreboard {
    var descriptor: Int32 = -1
    for folder in ["/dev/shm", "/tmp"] {
      let path = "\(folder)/contacts-scoreboard-\(getpid())-\(Clock.monotonicNanoseconds())"
      descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
      if descriptor >= 0 {
        unlink(path)
        break
      }
    }
    guard descriptor >= 0 else { throw SystemError(syscall: "open", path: "/dev/shm", code: errno) }
    let size = (headerWords + slots * slotWords) * MemoryLayout<Int64>.size
    let fd = descriptor
    try Syscall.call("ftruncate", path: "scoreboard") { ftruncate(fd, off_t(size)) }
    let scoreboard = try Scoreboard(descriptor: descriptor)
    scoreboard.words[1] = Int64(Clock.unixSeconds())
    scoreboard.words[6] = Int64(slots)
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
    guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), memory != MAP_FAILED else {
      throw SystemError(syscall: "mmap", path: "scoreboard", code: errno)
    }
    self.descriptor = descriptor
    words = memory.bindMemory(to: Int64.self, capacity: size / 8)
    slotCount = (size / 8 - Self.headerWords) / Self.slotWords
  }

  // MARK: Pool-wide counters (the supervisor writes these)

  public var startedAt: Int { Int(words[1]) }
  public var restarts: Int64 {
    get { words[2] }
    set { words[2] = newValue }
  }
  public var timeouts: Int64 {
    get { words[3] }
    set { words[3] = newValue }
  }
  /// Requests served by workers that have since exited.
  public var retiredRequests: Int64 {
    get { words[4] }
    set { words[4] = newValue }
  }
  public var retiredSlowRequests: Int64 {
    get { words[5] }
    set { words[5] = newValue }
  }

  // MARK: Slots

  private func base(_ slot: Int) -> UnsafeMutablePointer<Int64> {
    precondition(slot >= 0 && slot < slotCount, "scoreboard slot \(slot) out of range")
    return words + Self.headerWords + slot * Self.slotWords
  }

  public func slot(_ index: Int) -> Slot {
    let word = base(index)
    return Slot(
      pid: Int32(truncatingIfNeeded: word[0]), state: WorkerState(rawValue: word[1]) ?? .free, requests: word[2],
      slowRequests: word[3], requestStarted: UInt64(bitPattern: word[4]), generation: UInt64(bitPattern: word[5]),
      startedAt: Int(word[6]))
  }

  /// A worker claims its slot when it starts.
  public func claim(_ index: Int, pid: Int32) {
    let word = base(index)
    word[2] = 0
    word[3] = 0
    word[4] = 0
    word[6] = Int64(Clock.unixSeconds())
    word[0] = Int64(pid)
    word[1] = WorkerState.idle.rawValue
  }

  public func beginRequest(_ index: Int) {
    let word = base(index)
    word[4] = Int64(bitPattern: Clock.monotonicNanoseconds())
    word[1] = WorkerState.busy.rawValue
  }

  public func endRequest(_ index: Int, slow: Bool, generation: UInt64) {
    let word = base(index)
    word[2] += 1
    if slow { word[3] += 1 }
    word[5] = Int64(bitPattern: generation)
    word[1] = WorkerState.idle.rawValue
  }

  /// The supervisor frees a slot when its worker has exited, keeping its counts in the totals.
  public func release(_ index: Int) {
    let word = base(index)
    retiredRequests += word[2]
    retiredSlowRequests += word[3]
    word[1] = WorkerState.free.rawValue
    word[0] = 0
    word[2] = 0
    word[3] = 0
  }
}
