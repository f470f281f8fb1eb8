internal import Glibc

/// Counters shared by the supervisor and its workers, like php-fpm's scoreboard: a small
/// region of memory every process of the pool maps. Each worker writes only its own slot;
/// the supervisor reads all of them to enforce request timeouts, and the status page reads
/// them to report. Values are aligned 64-bit words written and read whole, which is all
/// statistics need; nothing here guards data.
public final class Scoreboard {
  /// The descriptor a worker finds the scoreboard on (the supervisor puts it there).
  public static let workerDescriptor: Int32 = 3

  /// What a slot's worker is doing: nothing (free slot), waiting for a request, or serving one.
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
  /// The layout this region was made with (read from its first word, so that a worker started
  /// by a reload from a newer binary still finds the older supervisor's slots).
  private let headerWords: Int
  private let slotWords: Int

  /// The layout this binary makes: a header, a retired-counts area shaped like a slot (the
  /// counts of workers that have exited), then the slots.
  private static let currentHeaderWords = 16
  private static let currentSlotWords = 96
  /// The first release's layout, which had no layout word (its first word was 0).
  private static let legacyHeaderWords = 8
  private static let legacySlotWords = 8
  private static let layoutMagic: Int64 = 0x5343_4F52  // "SCOR"

  /// The pool-wide words at the start of the region (the supervisor writes these).
  fileprivate enum Header: Int {
    /// `magic << 32 | headerWords << 16 | slotWords`; 0 in the first release's layout.
    case layout = 0
    case startedAt, restarts, timeouts, retiredRequests, retiredSlowRequests
    /// Workers replaced, by why the old one went (see `RestartReason`).
    case restartsCrash, restartsTimeout, restartsRecycled, restartsReload
  }

  /// Why a worker was replaced.
  public enum RestartReason: Int, CaseIterable, Sendable {
    /// It died: a signal (SIGKILL, a crash) or a failing exit status.
    case crash
    /// The supervisor killed it: its request ran past the timeout.
    case timeout
    /// It served `maxRequests` and exited to be replaced.
    case recycled
    /// A SIGHUP reload replaced it.
    case reload

    public var label: String {
      switch self {
      case .crash: "crash"
      case .timeout: "timeout"
      case .recycled: "recycled"
      case .reload: "reload"
      }
    }

    fileprivate var header: Header {
      switch self {
      case .crash: .restartsCrash
      case .timeout: .restartsTimeout
      case .recycled: .restartsRecycled
      case .reload: .restartsReload
      }
    }
  }

  /// The methods requests are counted by; anything else is `other`.
  public static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "other"]
  /// Status classes 1xx…5xx.
  public static let statusClasses = 5
  /// The upper bounds of the duration histograms' buckets, in nanoseconds (1 ms … 10 s; a last
  /// bucket, +Inf, takes the rest).
  public static let durationBucketsNanoseconds: [UInt64] = [
    1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
  ].map { UInt64($0 * 1_000_000) }

  /// The words of one slot. The first seven are the first release's layout, unchanged.
  private enum SlotWord: Int {
    case pid = 0
    case state, requests, slowRequests, requestStarted, generation, startedAt
    // Counters, summed into the retired area when the worker exits.
    case storeErrors = 8
    case storeReconnects, listingCacheHits, listingCacheMisses
    /// The sum of request durations, in microseconds; then one word per bucket (+Inf last).
    case requestDurationSum
    case requestDurationBuckets
    case commitDurationSum = 27
    case commitDurationBuckets
    /// `methods.count × statusClasses` words: method-major.
    case requestsByMethodAndClass = 42
    // Gauges, not summed when the worker exits.
    case listingCacheBytes = 72
    case listingCachePages
    // Counters again (after the gauges: added in a later version of the layout's spare words).
    /// Answers held until a flush of the journal covered them, and the flushes that released them.
    case heldAnswers = 74
    case heldBatches
  }
  /// The words kept in the totals when a worker exits.
  private static let counterWords: [Int] =
    Array(SlotWord.storeErrors.rawValue..<SlotWord.listingCacheBytes.rawValue)
    + [SlotWord.heldAnswers.rawValue, SlotWord.heldBatches.rawValue]

  private subscript(header: Header) -> Int64 {
    get { header.rawValue < headerWords ? words[header.rawValue] : 0 }
    set { if header.rawValue < headerWords { words[header.rawValue] = newValue } }
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
    // The header, the retired area (one slot's shape), then the slots.
    let size = (currentHeaderWords + (slots + 1) * currentSlotWords) * MemoryLayout<Int64>.size
    let fd = descriptor
    try Syscall.call("ftruncate", path: "scoreboard") { ftruncate(fd, off_t(size)) }
    // The layout word goes first, before any worker maps the region.
    let layout = layoutMagic << 32 | Int64(currentHeaderWords) << 16 | Int64(currentSlotWords)
    try Syscall.call("pwrite", path: "scoreboard") {
      withUnsafeBytes(of: layout) { Int32(pwrite(fd, $0.baseAddress, 8, 0)) }
    }
    let scoreboard = try Scoreboard(descriptor: descriptor)
    scoreboard[.startedAt] = Int64(Clock.unixSeconds())
    return scoreboard
  }

  /// Maps the scoreboard a supervisor handed over on `descriptor`.
  public init(descriptor: Int32) throws(SystemError) {
    var status = stat()
    try Syscall.call("fstat", path: "scoreboard") { fstat(descriptor, &status) }
    let size = Int(status.st_size)
    guard size >= (Self.legacyHeaderWords + Self.legacySlotWords) * 8 else {
      throw SystemError(syscall: "mmap", path: "scoreboard", code: EINVAL)
    }
    // mmap(2) reports failure with MAP_FAILED, not -1: the one call Syscall.call cannot wrap.
    guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), memory != MAP_FAILED else {
      throw SystemError(syscall: "mmap", path: "scoreboard", code: errno)
    }
    self.descriptor = descriptor
    words = memory.bindMemory(to: Int64.self, capacity: size / 8)
    let layout = words[Header.layout.rawValue]
    if layout >> 32 == Self.layoutMagic {
      headerWords = Int(layout >> 16 & 0xFFFF)
      slotWords = Int(layout & 0xFFFF)
      slotCount = (size / 8 - headerWords) / slotWords - 1
    } else {
      headerWords = Self.legacyHeaderWords
      slotWords = Self.legacySlotWords
      slotCount = (size / 8 - headerWords) / slotWords
    }
  }

  /// Whether the region has the words for everything `metrics()` reports (not when a newer
  /// worker runs under the first release's supervisor, before a restart).
  public var hasMetrics: Bool { slotWords > SlotWord.listingCachePages.rawValue }

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

  /// Counts a worker replaced for `reason`.
  public func countReplacement(_ reason: RestartReason) {
    self[reason.header] += 1
  }

  /// Workers replaced for `reason` since the pool started.
  public func replacements(_ reason: RestartReason) -> Int64 { self[reason.header] }

  // MARK: Slots

  private func base(_ slot: Int) -> SlotWords {
    precondition(slot >= 0 && slot < slotCount, "scoreboard slot \(slot) out of range")
    return SlotWords(base: words + headerWords + (hasRetiredArea ? slot + 1 : slot) * slotWords, count: slotWords)
  }

  private var hasRetiredArea: Bool { headerWords != Self.legacyHeaderWords }

  /// The counts of workers that have exited, shaped like a slot.
  private var retired: SlotWords? {
    hasRetiredArea ? SlotWords(base: words + headerWords, count: slotWords) : nil
  }

  /// One slot's words, by name; a word past the region's slot size reads 0 and is not written.
  private struct SlotWords {
    let base: UnsafeMutablePointer<Int64>
    let count: Int
    subscript(word: SlotWord) -> Int64 {
      get { self[word.rawValue] }
      nonmutating set { self[word.rawValue] = newValue }
    }
    subscript(index: Int) -> Int64 {
      get { index < count ? base[index] : 0 }
      nonmutating set { if index < count { base[index] = newValue } }
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
    for counter in Self.counterWords { word[counter] = 0 }
    word[.listingCacheBytes] = 0
    word[.listingCachePages] = 0
    word[.startedAt] = Int64(Clock.unixSeconds())
    word[.pid] = Int64(pid)
    word[.state] = WorkerState.idle.rawValue
  }

  public func beginRequest(_ index: Int) {
    let word = base(index)
    word[.requestStarted] = Int64(bitPattern: Clock.monotonicNanoseconds())
    word[.state] = WorkerState.busy.rawValue
  }

  /// Counts an answered request: its method, status and duration, and whether it was slow.
  public func endRequest(
    _ index: Int, method: String = "GET", status: Int = 200, nanoseconds: UInt64 = 0, slow: Bool, generation: UInt64
  ) {
    let word = base(index)
    let methodIndex = Self.methods.firstIndex(of: method) ?? Self.methods.count - 1
    let statusClass = min(max(status / 100, 1), Self.statusClasses) - 1
    word[SlotWord.requestsByMethodAndClass.rawValue + methodIndex * Self.statusClasses + statusClass] += 1
    Self.observe(nanoseconds, in: word, sum: .requestDurationSum, buckets: .requestDurationBuckets)
    word[.requests] += 1
    if slow { word[.slowRequests] += 1 }
    word[.generation] = Int64(bitPattern: generation)
    word[.state] = WorkerState.idle.rawValue
  }

  /// Counts a commit to the store that took `nanoseconds`.
  public func recordCommit(_ index: Int, nanoseconds: UInt64) {
    Self.observe(nanoseconds, in: base(index), sum: .commitDurationSum, buckets: .commitDurationBuckets)
  }

  /// Counts `answers` answers held until one flush of the journal covered them.
  public func countHeldBatch(_ index: Int, answers: Int) {
    let word = base(index)
    word[.heldAnswers] += Int64(answers)
    word[.heldBatches] += 1
  }

  /// Counts a store call that failed as unavailable (503).
  public func countStoreError(_ index: Int) {
    base(index)[.storeErrors] += 1
  }

  /// What the worker's store and listing cache have counted so far (totals of this worker).
  public func updateWorkerCounts(
    _ index: Int, storeReconnects: Int, listingCacheHits: Int, listingCacheMisses: Int, listingCacheBytes: Int,
    listingCachePages: Int
  ) {
    let word = base(index)
    word[.storeReconnects] = Int64(storeReconnects)
    word[.listingCacheHits] = Int64(listingCacheHits)
    word[.listingCacheMisses] = Int64(listingCacheMisses)
    word[.listingCacheBytes] = Int64(listingCacheBytes)
    word[.listingCachePages] = Int64(listingCachePages)
  }

  private static func observe(_ nanoseconds: UInt64, in word: SlotWords, sum: SlotWord, buckets: SlotWord) {
    let bucket = durationBucketsNanoseconds.firstIndex { nanoseconds <= $0 } ?? durationBucketsNanoseconds.count
    word[buckets.rawValue + bucket] += 1
    word[sum] += Int64(nanoseconds / 1000)
  }

  /// The supervisor frees a slot when its worker has exited, keeping its counts in the totals.
  public func release(_ index: Int) {
    let word = base(index)
    retiredRequests += word[.requests]
    retiredSlowRequests += word[.slowRequests]
    if let retired {
      for counter in Self.counterWords { retired[counter] += word[counter] }
    }
    word[.state] = WorkerState.free.rawValue
    word[.pid] = 0
    word[.requests] = 0
    word[.slowRequests] = 0
    for counter in Self.counterWords { word[counter] = 0 }
    word[.listingCacheBytes] = 0
    word[.listingCachePages] = 0
  }

  // MARK: Reading it all

  /// A duration histogram: counts per bucket (not cumulative; +Inf last) and the sum.
  public struct Histogram: Sendable, Equatable {
    public var buckets: [Int64]
    public var sumMicroseconds: Int64
    public var count: Int64 { buckets.reduce(0, +) }
  }

  /// The pool's counters summed over the retired area and every slot: one read for a scrape.
  public struct Metrics: Sendable {
    /// `[method index][status class - 1]`, methods as in `Scoreboard.methods`.
    public var requests: [[Int64]]
    public var requestDuration: Histogram
    public var commitDuration: Histogram
    public var storeErrors: Int64
    public var storeReconnects: Int64
    public var listingCacheHits: Int64
    public var listingCacheMisses: Int64
    public var listingCacheBytes: Int64
    public var listingCachePages: Int64
    public var heldAnswers: Int64
    public var heldBatches: Int64
    public var replacements: [RestartReason: Int64]
  }

  public func metrics() -> Metrics {
    let buckets = Self.durationBucketsNanoseconds.count + 1
    var totals = [Int64](repeating: 0, count: slotWords)
    var areas: [SlotWords] = retired.map { [$0] } ?? []
    for index in 0..<slotCount { areas.append(base(index)) }
    for (position, area) in areas.enumerated() {
      let live = position > 0 || retired == nil
      if live && WorkerState(rawValue: area[.state]) ?? .free == .free { continue }
      for counter in Self.counterWords where counter < slotWords { totals[counter] += area[counter] }
      if live {
        for gauge in [SlotWord.listingCacheBytes, .listingCachePages] where gauge.rawValue < slotWords {
          totals[gauge.rawValue] += area[gauge]
        }
      }
    }
    func total(_ word: SlotWord, _ offset: Int = 0) -> Int64 {
      word.rawValue + offset < totals.count ? totals[word.rawValue + offset] : 0
    }
    func histogram(_ sum: SlotWord, _ first: SlotWord) -> Histogram {
      Histogram(buckets: (0..<buckets).map { total(first, $0) }, sumMicroseconds: total(sum))
    }
    return Metrics(
      requests: Self.methods.indices.map { method in
        (0..<Self.statusClasses).map { total(.requestsByMethodAndClass, method * Self.statusClasses + $0) }
      },
      requestDuration: histogram(.requestDurationSum, .requestDurationBuckets),
      commitDuration: histogram(.commitDurationSum, .commitDurationBuckets),
      storeErrors: total(.storeErrors), storeReconnects: total(.storeReconnects),
      listingCacheHits: total(.listingCacheHits), listingCacheMisses: total(.listingCacheMisses),
      listingCacheBytes: total(.listingCacheBytes), listingCachePages: total(.listingCachePages),
      heldAnswers: total(.heldAnswers), heldBatches: total(.heldBatches),
      replacements: Dictionary(uniqueKeysWithValues: RestartReason.allCases.map { ($0, replacements($0)) }))
  }
}
