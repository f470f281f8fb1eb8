import Platform

/// The parent of the worker pool, like php-fpm's `pm = static`: it only starts, watches and
/// stops workers; it never accepts a request itself.
///
/// Workers are fresh processes of this same binary (`posix_spawn`, not `fork`: forking a
/// process that may have threads is unsafe in Swift), with the listening socket on descriptor 0
/// and the scoreboard on descriptor 3. Every quarter second the supervisor reaps workers that
/// ended (and starts replacements) and kills any worker whose request has run past the timeout.
final class Supervisor {
  let executable: String
  let workerArguments: [String]
  let listener: Int32
  let size: Int
  let requestTimeoutNanoseconds: UInt64
  let scoreboard: Scoreboard
  /// Its read end goes to every worker, which exits once this process is gone (even by SIGKILL).
  let lifeline: Lifeline

  /// Running workers that count toward the pool, and their scoreboard slots.
  private var workers: [Int32: Int] = [:]
  /// Workers told to stop (replaced on SIGHUP), still finishing a request.
  private var retiring: [Int32: Int] = [:]
  /// Workers still to be replaced by the SIGHUP in progress, one at a time.
  private var toReplace: [Int32] = []
  /// The replacement started for the worker being replaced, until it is ready to serve.
  private var replacement: (new: Int32, old: Int32)?
  private var timedOut: Set<Int32> = []
  private var recentStarts: [UInt64] = []

  init(
    executable: String, workerArguments: [String], listener: Int32, size: Int, requestTimeoutSeconds: Int,
    scoreboard: Scoreboard, lifeline: consuming Lifeline
  ) {
    self.lifeline = lifeline
    self.executable = executable
    self.workerArguments = workerArguments
    self.listener = listener
    self.size = size
    self.requestTimeoutNanoseconds = UInt64(requestTimeoutSeconds) * 1_000_000_000
    self.scoreboard = scoreboard
  }

  /// Runs until SIGTERM or SIGINT, then stops every worker gracefully.
  func run() {
    for _ in 0..<size { startWorker() }
    let watched = [Signals.child, Signals.terminate, Signals.interrupt, Signals.hangUp]
    while true {
      let signal = Signals.wait(for: watched, timeoutMilliseconds: replacement == nil ? 250 : 20)
      reapWorkers(stopping: false)
      killTimedOutWorkers()
      retireReplacedWorkerOnceReady()
      switch signal {
      case Signals.terminate, Signals.interrupt:
        stopAll()
        return
      case Signals.hangUp:
        Log.info("reload", "SIGHUP: replacing \(workers.count) workers one by one")
        toReplace = Array(workers.keys)
        replaceNext()
      default:
        break
      }
      while workers.count < size {
        scoreboard.restarts += 1
        startWorker()
      }
    }
  }

  private func freeSlot() -> Int? {
    let used = Set(workers.values).union(retiring.values)
    return (0..<scoreboard.slotCount).first { !used.contains($0) }
  }

  @discardableResult
  private func startWorker() -> Int32? {
    // A worker that cannot start (bad data directory, say) must not spin the CPU.
    let now = Clock.monotonicNanoseconds()
    recentStarts = recentStarts.filter { now - $0 < 10_000_000_000 } + [now]
    if recentStarts.count > 4 * size + 10 {
      Log.error("restart_throttled", "workers keep dying; waiting a second before the next start")
      _ = Signals.wait(for: [], timeoutMilliseconds: 1000)
    }
    guard let slot = freeSlot() else {
      Log.error("spawn_failed", "no free scoreboard slot")
      return nil
    }
    do {
      let pid = try Processes.spawn(
        executable, arguments: workerArguments + ["--scoreboard-slot", String(slot), "--supervised"],
        standardInput: listener,
        inherited: [
          Scoreboard.workerDescriptor: scoreboard.descriptor, Lifeline.childDescriptor: lifeline.childEndDescriptor,
        ])
      workers[pid] = slot
      Log.info("worker_started", "worker \(pid) started", ["worker": String(pid), "slot": String(slot)])
      return pid
    } catch {
      Log.error("spawn_failed", "cannot start a worker: \(error)")
      return nil
    }
  }

  /// Reaps every child that has ended; logs why.
  private func reapWorkers(stopping: Bool) {
    while let (pid, exit) = Processes.reapAny() {
      if let slot = retiring.removeValue(forKey: pid) {
        scoreboard.release(slot)
        Log.info("worker_retired", "worker \(pid) \(exit)", ["worker": String(pid)])
        replaceNext()
      } else if let slot = workers.removeValue(forKey: pid) {
        scoreboard.release(slot)
        let expected = stopping || exit == .exited(0)
        let cause = timedOut.remove(pid) != nil ? " after its request timed out" : ""
        Log.write(
          expected ? .info : .error, "worker_exited",
          "worker \(pid) \(exit)\(cause)\(stopping ? "" : "; starting a replacement")", ["worker": String(pid)])
      }
    }
  }

  /// Kills workers whose current request has run longer than the timeout: nginx answers that
  /// request with 502, and the worker is replaced like any other that died.
  private func killTimedOutWorkers() {
    let now = Clock.monotonicNanoseconds()
    for (pid, slot) in workers.merging(retiring, uniquingKeysWith: { first, _ in first }) where !timedOut.contains(pid)
    {
      let state = scoreboard.slot(slot)
      guard state.pid == pid, state.state == .busy, now > state.requestStarted,
        now - state.requestStarted > requestTimeoutNanoseconds
      else { continue }
      timedOut.insert(pid)
      scoreboard.timeouts += 1
      Log.error(
        "request_timeout",
        "worker \(pid) has been on one request for \((now - state.requestStarted) / 1_000_000) ms; killing it",
        ["worker": String(pid)])
      Processes.send(Signals.kill, to: pid)
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
      replacement = (new, old)
      return
    }
  }

  private func retireReplacedWorkerOnceReady() {
    guard let (new, old) = replacement else { return }
    if let slot = workers[new] {
      guard scoreboard.slot(slot).pid == new else { return }  // still loading
    }
    // Ready, or it died (and its own replacement is on the way): retire the old one either way.
    replacement = nil
    guard let slot = workers.removeValue(forKey: old) else {
      replaceNext()
      return
    }
    retiring[old] = slot
    Processes.send(Signals.terminate, to: old)
  }

  /// Asks every worker to stop after its current request; waits for all of them.
  /// A worker caught between its stop check and `accept` misses one signal, so it is repeated.
  private func stopAll() {
    Log.info("stopping", "stopping \(workers.count + retiring.count) workers after their current requests")
    let deadline = Clock.monotonicNanoseconds() + 60_000_000_000
    while !(workers.isEmpty && retiring.isEmpty) {
      for pid in Array(workers.keys) + Array(retiring.keys) { Processes.send(Signals.terminate, to: pid) }
      _ = Signals.wait(for: [Signals.child], timeoutMilliseconds: 200)
      reapWorkers(stopping: true)
      killTimedOutWorkers()
      if Clock.monotonicNanoseconds() > deadline {
        for pid in Array(workers.keys) + Array(retiring.keys) { Processes.send(Signals.kill, to: pid) }
      }
    }
  }
}
