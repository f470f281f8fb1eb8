import Platform

/// The parent of the worker pool, like php-fpm's `pm = static`: it only starts, watches and
/// stops workers; it never accepts a request itself.
///
/// Workers are fresh processes of this same binary (`posix_spawn`, not `fork`: forking a
/// process that may have threads is unsafe in Swift), with the listening socket on descriptor 0.
final class Supervisor {
  let executable: String
  let workerArguments: [String]
  let listener: Int32
  let size: Int

  /// Running workers that count toward the pool.
  private var workers: Set<Int32> = []
  /// Workers told to stop (replaced on SIGHUP), still finishing a request.
  private var retiring: Set<Int32> = []
  /// Workers still to be replaced by the SIGHUP in progress, one at a time.
  private var toReplace: [Int32] = []
  private var recentRestarts: [UInt64] = []

  init(executable: String, workerArguments: [String], listener: Int32, size: Int) {
    self.executable = executable
    self.workerArguments = workerArguments
    self.listener = listener
    self.size = size
  }

  /// Runs until SIGTERM or SIGINT, then stops every worker gracefully.
  func run() {
    for _ in 0..<size { startWorker() }
    let watched = [Signals.child, Signals.terminate, Signals.interrupt, Signals.hangUp]
    while true {
      let signal = Signals.wait(for: watched, timeoutMilliseconds: 1000)
      reapWorkers(stopping: false)
      switch signal {
      case Signals.terminate, Signals.interrupt:
        stopAll()
        return
      case Signals.hangUp:
        Log.info("reload", "SIGHUP: replacing \(workers.count) workers one by one")
        toReplace = Array(workers)
        replaceNext()
      default:
        break
      }
      while workers.count < size { startWorker() }
    }
  }

  private func startWorker() {
    // A worker that cannot start (bad data directory, say) must not spin the CPU.
    let now = Clock.monotonicNanoseconds()
    recentRestarts = recentRestarts.filter { now - $0 < 10_000_000_000 } + [now]
    if recentRestarts.count > 4 * size + 10 {
      Log.error("restart_throttled", "workers keep dying; waiting a second before the next start")
      _ = Signals.wait(for: [], timeoutMilliseconds: 1000)
    }
    do {
      let pid = try Processes.spawn(executable, arguments: workerArguments, standardInput: listener)
      workers.insert(pid)
      Log.info("worker_started", "worker \(pid) started", ["worker": String(pid)])
    } catch {
      Log.error("spawn_failed", "cannot start a worker: \(error)")
    }
  }

  /// Reaps every child that has ended; logs why.
  private func reapWorkers(stopping: Bool) {
    while let (pid, exit) = Processes.reapAny() {
      if retiring.remove(pid) != nil {
        Log.info("worker_retired", "worker \(pid) \(exit)", ["worker": String(pid)])
        replaceNext()
      } else if workers.remove(pid) != nil {
        let expected = stopping || exit == .exited(0)
        Log.write(
          expected ? .info : .error, "worker_exited",
          "worker \(pid) \(exit)\(stopping ? "" : "; starting a replacement")",
          ["worker": String(pid)])
      }
    }
  }

  /// SIGHUP, one step: start one new worker, then ask one old worker to finish and exit.
  private func replaceNext() {
    guard retiring.isEmpty else { return }
    while let old = toReplace.popLast() {
      guard workers.contains(old) else { continue }
      startWorker()
      workers.remove(old)
      retiring.insert(old)
      Processes.send(Signals.terminate, to: old)
      return
    }
  }

  /// Asks every worker to stop after its current request; waits for all of them.
  /// A worker caught between its stop check and `accept` misses one signal, so it is repeated.
  private func stopAll() {
    Log.info("stopping", "stopping \(workers.count + retiring.count) workers after their current requests")
    let deadline = Clock.monotonicNanoseconds() + 60_000_000_000
    while !(workers.isEmpty && retiring.isEmpty) {
      for pid in workers.union(retiring) { Processes.send(Signals.terminate, to: pid) }
      _ = Signals.wait(for: [Signals.child], timeoutMilliseconds: 200)
      reapWorkers(stopping: true)
      retiring.subtract(retiring.filter { !isAlive($0) })
      if Clock.monotonicNanoseconds() > deadline {
        for pid in workers.union(retiring) { Processes.send(Signals.kill, to: pid) }
      }
    }
  }

  private func isAlive(_ pid: Int32) -> Bool { workers.contains(pid) }
}
