public import Logging
public import Platform

/// The parent of the worker pool, like php-fpm's `pm = static`: it only starts, watches and
/// stops workers; it never accepts a request itself.
///
/// Every quarter second (or at once on a signal) it reaps workers that ended and starts
/// replacements, kills any worker whose request has run past the timeout, and moves a SIGHUP
/// reload on by one step. Everything it does to the world goes through a
/// `SupervisorEnvironment`, so this state machine is tested without processes.
public final class Supervisor {
  let size: Int
  let requestTimeoutNanoseconds: UInt64
  let environment: any SupervisorEnvironment
  let logger: Logger

  /// Running workers that count toward the pool, and their scoreboard slots.
  private(set) var workers: [Int32: Int] = [:]
  /// Workers told to stop (replaced on SIGHUP), still finishing a request.
  private(set) var retiring: [Int32: Int] = [:]
  /// Workers still to be replaced by the SIGHUP in progress, one at a time.
  private var toReplace: [Int32] = []
  /// The replacement started for the worker being replaced, until it is ready to serve.
  private var replacement: (new: Int32, old: Int32)?
  private var timedOut: Set<Int32> = []
  private var recentStarts: [UInt64] = []
  /// The events publisher, when the environment runs one (it serves no request).
  private(set) var publisher: Int32?
  /// A SIGHUP restarts the publisher once the last worker is replaced, not with the first: a new
  /// publisher's first poll reads the whole journal, and the first new worker, loading the data,
  /// would share the cores with it. The old one publishes meanwhile.
  private var restartPublisherAfterReload = false
  private var stopping = false

  /// The signals the supervisor acts on.
  public static let watchedSignals = [Signals.child, Signals.terminate, Signals.interrupt, Signals.hangUp]

  /// - Parameters:
  ///   - size: workers in the pool.
  ///   - requestTimeoutSeconds: a request running longer gets its worker killed.
  ///   - environment: processes, signals, the scoreboard and the clock.
  ///   - logger: where the pool's life is logged.
  public init(size: Int, requestTimeoutSeconds: Int, environment: any SupervisorEnvironment, logger: Logger) {
    self.size = size
    self.requestTimeoutNanoseconds = UInt64(requestTimeoutSeconds) * 1_000_000_000
    self.environment = environment
    self.logger = logger
  }

  /// Runs until SIGTERM or SIGINT, then stops every worker gracefully.
  public func run() {
    start()
    while step(received: environment.waitForSignal(Self.watchedSignals, timeoutMilliseconds: waitMilliseconds)) {}
  }

  /// How long to wait for a signal before the next turn: short while a replacement loads.
  var waitMilliseconds: Int { replacement == nil ? 250 : 20 }

  /// Starts the pool.
  func start() {
    for _ in 0..<size { startWorker() }
    startPublisherIfNeeded()
  }

  private func startPublisherIfNeeded() {
    guard environment.runsPublisher, publisher == nil, !stopping else { return }
    do {
      let pid = try environment.spawnPublisher()
      publisher = pid
      logger.log(.info, event: "publisher_started", "events publisher \(pid) started", ["worker": "\(pid)"])
    } catch {
      logger.log(.error, event: "spawn_failed", "cannot start the events publisher: \(error)")
    }
  }

  /// One turn of the loop, after `signal` (or none) arrived.
  ///
  /// - Returns: `false` once the pool has stopped (SIGTERM or SIGINT).
  func step(received signal: Int32?) -> Bool {
    reapWorkers(stopping: false)
    killTimedOutWorkers()
    retireReplacedWorkerOnceReady()
    switch signal {
    case Signals.terminate, Signals.interrupt:
      stopAll()
      return false
    case Signals.hangUp:
      logger.log(.info, event: "reload", "SIGHUP: replacing \(workers.count) workers one by one")
      toReplace = Array(workers.keys)
      // The publisher holds no request: it is simply restarted with the new configuration, once
      // the workers are (see `restartPublisherAfterReload`).
      restartPublisherAfterReload = publisher != nil
      replaceNext()
    default:
      break
    }
    while workers.count < size {
      environment.countRestart()
      guard startWorker() != nil else { break }
    }
    startPublisherIfNeeded()
    return true
  }

  private func freeSlot() -> Int? {
    let used = Set(workers.values).union(retiring.values)
    return (0..<environment.slotCount).first { !used.contains($0) }
  }

  @discardableResult
  private func startWorker() -> Int32? {
    // A worker that cannot start (bad data directory, say) must not spin the CPU.
    let now = environment.now()
    recentStarts = recentStarts.filter { now - $0 < 10_000_000_000 } + [now]
    if recentStarts.count > 4 * size + 10 {
      logger.log(.error, event: "restart_throttled", "workers keep dying; waiting a second before the next start")
      _ = environment.waitForSignal([], timeoutMilliseconds: 1000)
    }
    guard let slot = freeSlot() else {
      logger.log(.error, event: "spawn_failed", "no free scoreboard slot")
      return nil
    }
    do {
      let pid = try environment.spawnWorker(slot: slot)
      workers[pid] = slot
      logger.log(.info, event: "worker_started", "worker \(pid) started", ["worker": "\(pid)", "slot": "\(slot)"])
      return pid
    } catch {
      logger.log(.error, event: "spawn_failed", "cannot start a worker: \(error)")
      return nil
    }
  }

  /// Reaps every child that has ended; logs why.
  private func reapWorkers(stopping: Bool) {
    while let (pid, exit) = environment.reapExited() {
      if pid == publisher {
        publisher = nil
        restartPublisherAfterReload = false  // the next one starts with the new configuration
        logger.log(
          stopping || exit == .exited(0) ? .info : .error, event: "publisher_exited",
          "events publisher \(pid) \(exit)\(stopping ? "" : "; starting a new one")", ["worker": "\(pid)"])
      } else if let slot = retiring.removeValue(forKey: pid) {
        environment.release(slot)
        logger.log(.info, event: "worker_retired", "worker \(pid) \(exit)", ["worker": "\(pid)"])
        replaceNext()
      } else if let slot = workers.removeValue(forKey: pid) {
        environment.release(slot)
        let expected = stopping || exit == .exited(0)
        let timedOutNow = timedOut.remove(pid) != nil
        let cause = timedOutNow ? " after its request timed out" : ""
        if !stopping {
          environment.countReplacement(timedOutNow ? .timeout : exit == .exited(0) ? .recycled : .crash)
        }
        logger.log(
          expected ? .info : .error, event: "worker_exited",
          "worker \(pid) \(exit)\(cause)\(stopping ? "" : "; starting a replacement")", ["worker": "\(pid)"])
      }
    }
  }

  /// Kills workers whose current request has run longer than the timeout: nginx answers that
  /// request with 502, and the worker is replaced like any other that died.
  private func killTimedOutWorkers() {
    let now = environment.now()
    for (pid, slot) in workers.merging(retiring, uniquingKeysWith: { first, _ in first }) where !timedOut.contains(pid)
    {
      let state = environment.slot(slot)
      guard state.pid == pid, state.state == .busy, now > state.requestStarted,
        now - state.requestStarted > requestTimeoutNanoseconds
      else { continue }
      timedOut.insert(pid)
      environment.countTimeout()
      logger.log(
        .error, event: "request_timeout",
        "worker \(pid) has been on one request for \((now - state.requestStarted) / 1_000_000) ms; killing it",
        ["worker": "\(pid)"])
      environment.send(Signals.kill, to: pid)
    }
  }

  /// SIGHUP, one step: start one new worker; the old one is told to finish and exit once the
  /// new one is ready (it has loaded the data and claimed its scoreboard slot), so the pool
  /// never has fewer ready workers than it should.
  private func replaceNext() {
    guard retiring.isEmpty, replacement == nil else { return }
    while let old = toReplace.popLast() {
      guard workers[old] != nil else { continue }
      guard let new = startWorker() else { return }
      environment.countReplacement(.reload)
      replacement = (new, old)
      return
    }
    // Every worker is replaced: now the publisher.
    if restartPublisherAfterReload, let publisher {
      restartPublisherAfterReload = false
      environment.send(Signals.terminate, to: publisher)
    }
  }

  private func retireReplacedWorkerOnceReady() {
    guard let (new, old) = replacement else { return }
    if let slot = workers[new] {
      guard environment.slot(slot).pid == new else { return }  // still loading
    }
    // Ready, or it died (and its own replacement is on the way): retire the old one either way.
    replacement = nil
    guard let slot = workers.removeValue(forKey: old) else {
      replaceNext()
      return
    }
    retiring[old] = slot
    environment.send(Signals.terminate, to: old)
  }

  /// Asks every worker to stop after its current request; waits for all of them.
  /// A worker caught between its stop check and `accept` misses one signal, so it is repeated.
  private func stopAll() {
    stopping = true
    logger.log(
      .info, event: "stopping", "stopping \(workers.count + retiring.count) workers after their current requests")
    let deadline = environment.now() + 60_000_000_000
    while !(workers.isEmpty && retiring.isEmpty && publisher == nil) {
      let running = Array(workers.keys) + Array(retiring.keys) + (publisher.map { [$0] } ?? [])
      for pid in running { environment.send(Signals.terminate, to: pid) }
      _ = environment.waitForSignal([Signals.child], timeoutMilliseconds: 200)
      reapWorkers(stopping: true)
      killTimedOutWorkers()
      if environment.now() > deadline {
        for pid in running { environment.send(Signals.kill, to: pid) }
      }
    }
  }
}

/// Everything the supervisor does to the world: processes, signals, the scoreboard, the clock.
public protocol SupervisorEnvironment: AnyObject {
  /// Starts a worker that will claim scoreboard slot `slot`; its process id.
  func spawnWorker(slot: Int) throws -> Int32
  /// `kill(2)`.
  func send(_ signal: Int32, to pid: Int32)
  /// One child that has ended, without waiting; `nil` when none has.
  func reapExited() -> (pid: Int32, exit: ProcessExit)?
  /// Waits up to `timeoutMilliseconds` for one of `signals` (blocked, taken synchronously).
  func waitForSignal(_ signals: [Int32], timeoutMilliseconds: Int) -> Int32?
  /// Monotonic nanoseconds.
  func now() -> UInt64
  /// Slots on the scoreboard.
  var slotCount: Int { get }
  /// What the worker in slot `index` last wrote there.
  func slot(_ index: Int) -> Scoreboard.Slot
  /// Frees a slot whose worker has exited (its counts go to the totals).
  func release(_ slot: Int)
  /// Counts a worker started to replace one that ended.
  func countRestart()
  /// Counts a request that ran past the timeout.
  func countTimeout()
  /// Counts a worker that is being replaced, by why (a crash, a timeout, recycling, a reload).
  func countReplacement(_ reason: Scoreboard.RestartReason)
  /// Whether an events publisher runs beside the workers.
  var runsPublisher: Bool { get }
  /// Starts the events publisher; its process id.
  func spawnPublisher() throws -> Int32
}

/// The real environment: `posix_spawn` of this binary's `worker` command with the listening
/// socket on descriptor 0, the scoreboard on 3 and the lifeline on 4.
public final class ProcessSupervisorEnvironment: SupervisorEnvironment {
  let executable: String
  let workerArguments: [String]
  let publisherArguments: [String]?
  let listener: Int32
  let scoreboard: Scoreboard
  /// Its other end goes to every worker, which exits once this process is gone (even by SIGKILL).
  let lifeline: Lifeline

  /// - Parameters:
  ///   - executable: this binary.
  ///   - workerArguments: `worker` and its options; the slot is added per worker.
  ///   - publisherArguments: `publisher` and its options, when events are pushed.
  ///   - listener: the listening socket.
  ///   - scoreboard: the pool's scoreboard.
  ///   - lifeline: the pipe whose closing tells workers the supervisor is gone.
  public init(
    executable: String, workerArguments: [String], publisherArguments: [String]? = nil, listener: Int32,
    scoreboard: Scoreboard, lifeline: consuming Lifeline
  ) {
    self.executable = executable
    self.workerArguments = workerArguments
    self.publisherArguments = publisherArguments
    self.listener = listener
    self.scoreboard = scoreboard
    self.lifeline = lifeline
  }

  public func spawnWorker(slot: Int) throws -> Int32 {
    try Processes.spawn(
      executable, arguments: workerArguments + ["--scoreboard-slot", String(slot), "--supervised"],
      standardInput: listener,
      inherited: [
        Scoreboard.workerDescriptor: scoreboard.descriptor, Lifeline.childDescriptor: lifeline.childEndDescriptor,
      ])
  }
  public func send(_ signal: Int32, to pid: Int32) { Processes.send(signal, to: pid) }
  public func reapExited() -> (pid: Int32, exit: ProcessExit)? { Processes.reapAny() }
  public func waitForSignal(_ signals: [Int32], timeoutMilliseconds: Int) -> Int32? {
    Signals.wait(for: signals, timeoutMilliseconds: timeoutMilliseconds)
  }
  public func now() -> UInt64 { Clock.monotonicNanoseconds() }
  public var slotCount: Int { scoreboard.slotCount }
  public func slot(_ index: Int) -> Scoreboard.Slot { scoreboard.slot(index) }
  public func release(_ slot: Int) { scoreboard.release(slot) }
  public func countRestart() { scoreboard.restarts += 1 }
  public func countTimeout() { scoreboard.timeouts += 1 }
  public func countReplacement(_ reason: Scoreboard.RestartReason) { scoreboard.countReplacement(reason) }
  public var runsPublisher: Bool { publisherArguments != nil }
  public func spawnPublisher() throws -> Int32 {
    // No listening socket for it: it accepts nothing (standard input is /dev/null).
    let null = try FileDescriptor(open: "/dev/null", .readOnly)
    return try Processes.spawn(
      executable, arguments: (publisherArguments ?? []) + ["--supervised"], standardInput: null.rawValue,
      inherited: [Lifeline.childDescriptor: lifeline.childEndDescriptor])
  }
}
