import Logging
import Platform
import Testing

@testable import ContactsServer

/// The supervisor's state machine against a fake process table: respawn, SIGHUP reload one by
/// one with the pool never below strength, request timeouts and a graceful stop.
@Suite struct SupervisorTests {
  /// Processes that exist only in this table; a worker is "ready" once it claims its slot.
  final class FakeEnvironment: SupervisorEnvironment {
    var nextPID: Int32 = 100
    var running: [Int32: Int] = [:]
    var claimed: [Int: (pid: Int32, busySince: UInt64?)] = [:]
    var exited: [(Int32, ProcessExit)] = []
    var sent: [(Int32, Int32)] = []
    var clock: UInt64 = 1_000_000_000
    var restarts = 0
    var timeouts = 0
    /// Workers start ready unless a test wants to watch them load.
    var claimOnSpawn = true
    /// Workers exit when asked to (SIGTERM, SIGKILL) at the next reap.
    var obeySignals = true

    let slotCount = 6
    func spawnWorker(slot: Int) throws -> Int32 {
      nextPID += 1
      running[nextPID] = slot
      if claimOnSpawn { claimed[slot] = (nextPID, nil) }
      return nextPID
    }
    func send(_ signal: Int32, to pid: Int32) {
      sent.append((signal, pid))
      if obeySignals, running.removeValue(forKey: pid) != nil {
        exited.append((pid, signal == Signals.kill ? .signalled(signal) : .exited(0)))
      }
    }
    func reapExited() -> (pid: Int32, exit: ProcessExit)? { exited.isEmpty ? nil : exited.removeFirst() }
    func waitForSignal(_ signals: [Int32], timeoutMilliseconds: Int) -> Int32? {
      clock += UInt64(timeoutMilliseconds) * 1_000_000
      return nil
    }
    func now() -> UInt64 { clock }
    func slot(_ index: Int) -> Scoreboard.Slot {
      let entry = claimed[index]
      return Scoreboard.Slot(
        pid: entry?.pid ?? 0, state: entry == nil ? .free : (entry?.busySince == nil ? .idle : .busy), requests: 0,
        slowRequests: 0, requestStarted: entry?.busySince ?? 0, generation: 0, startedAt: 0)
    }
    func release(_ slot: Int) { claimed[slot] = nil }
    func countRestart() { restarts += 1 }
    func countTimeout() { timeouts += 1 }
    var replacements: [Scoreboard.RestartReason: Int] = [:]
    func countReplacement(_ reason: Scoreboard.RestartReason) { replacements[reason, default: 0] += 1 }
    var runsPublisher = false
    var publishers: [Int32] = []
    func spawnPublisher() throws -> Int32 {
      nextPID += 1
      running[nextPID] = -1
      publishers.append(nextPID)
      return nextPID
    }

    /// A worker dies on its own (a crash).
    func crash(_ pid: Int32) {
      running[pid] = nil
      exited.append((pid, .signalled(Signals.kill)))
    }
    func signals(to pid: Int32) -> [Int32] { sent.filter { $0.1 == pid }.map(\.0) }
  }

  static func make(size: Int = 2, timeout: Int = 30) -> (Supervisor, FakeEnvironment) {
    let environment = FakeEnvironment()
    let supervisor = Supervisor(size: size, requestTimeoutSeconds: timeout, environment: environment, logger: .silent)
    return (supervisor, environment)
  }

  @Test func startsThePoolAndReplacesAWorkerThatDies() {
    let (supervisor, environment) = Self.make()
    supervisor.start()
    #expect(environment.running.count == 2)
    let victim = environment.running.keys.min()!
    environment.crash(victim)
    #expect(supervisor.step(received: Signals.child))
    #expect(environment.running.count == 2)
    #expect(environment.running[victim] == nil)
    #expect(environment.restarts == 1)
    #expect(environment.replacements == [.crash: 1])
  }

  @Test func sighupReplacesEveryWorkerOneByOneNeverBelowStrength() {
    let (supervisor, environment) = Self.make(size: 3)
    supervisor.start()
    let before = Set(environment.running.keys)
    environment.claimOnSpawn = false
    #expect(supervisor.step(received: Signals.hangUp))
    for _ in 0..<40 {
      // Ready workers (claimed slots) never fewer than the pool size.
      let ready = environment.running.filter { environment.claimed[$0.value]?.pid == $0.key }
      #expect(ready.count >= 3, "ready: \(ready)")
      // The newest worker finishes loading on the next turn.
      if let newest = environment.running.keys.max(), environment.claimed[environment.running[newest]!] == nil {
        environment.claimed[environment.running[newest]!] = (newest, nil)
      }
      #expect(supervisor.step(received: nil))
    }
    let after = Set(environment.running.keys)
    #expect(after.count == 3)
    #expect(after.isDisjoint(with: before), "before \(before), after \(after)")
    for old in before { #expect(environment.signals(to: old) == [Signals.terminate]) }
    #expect(environment.restarts == 0)
    // Retired workers exiting 0 are not counted as recycled: the reload counted them.
    #expect(environment.replacements == [.reload: 3])
  }

  @Test func aRequestPastTheTimeoutKillsItsWorkerOnceAndItIsReplaced() {
    let (supervisor, environment) = Self.make(size: 1, timeout: 2)
    supervisor.start()
    let pid = environment.running.keys.first!
    let slot = environment.running[pid]!
    environment.claimed[slot] = (pid, environment.clock)
    environment.obeySignals = false
    environment.clock += 1_000_000_000
    #expect(supervisor.step(received: nil))
    #expect(environment.signals(to: pid).isEmpty)
    environment.clock += 2_000_000_000
    #expect(supervisor.step(received: nil))
    #expect(supervisor.step(received: nil))
    #expect(environment.signals(to: pid) == [Signals.kill])
    #expect(environment.timeouts == 1)
    environment.crash(pid)
    #expect(supervisor.step(received: Signals.child))
    #expect(environment.running.count == 1 && environment.running[pid] == nil)
    #expect(environment.replacements == [.timeout: 1])
  }

  @Test func aWorkerThatExitsAfterMaxRequestsCountsAsRecycled() {
    let (supervisor, environment) = Self.make(size: 1)
    supervisor.start()
    let pid = environment.running.keys.first!
    environment.running[pid] = nil
    environment.exited.append((pid, .exited(0)))
    #expect(supervisor.step(received: Signals.child))
    #expect(environment.replacements == [.recycled: 1])
    #expect(environment.restarts == 1)
  }

  @Test func sigtermStopsEveryWorkerAndEndsTheLoop() {
    let (supervisor, environment) = Self.make(size: 2)
    supervisor.start()
    let pids = Set(environment.running.keys)
    #expect(!supervisor.step(received: Signals.terminate))
    #expect(environment.running.isEmpty)
    for pid in pids { #expect(environment.signals(to: pid).first == Signals.terminate) }
    #expect(environment.restarts == 0)
  }

  @Test func theEventsPublisherIsRestartedWhenItDiesAndOnReloadAndStoppedWithThePool() {
    let environment = FakeEnvironment()
    environment.runsPublisher = true
    let supervisor = Supervisor(size: 2, requestTimeoutSeconds: 30, environment: environment, logger: .silent)
    supervisor.start()
    #expect(environment.publishers.count == 1)
    let first = environment.publishers[0]
    environment.crash(first)
    #expect(supervisor.step(received: Signals.child))
    #expect(environment.publishers.count == 2 && supervisor.publisher == environment.publishers[1])
    // A reload restarts it once every worker is replaced, not while the new ones load.
    let workersBefore = Set(environment.running.filter { $0.value >= 0 }.keys)
    #expect(supervisor.step(received: Signals.hangUp))
    var turns = 0
    while environment.signals(to: environment.publishers[1]).isEmpty, turns < 20 {
      #expect(environment.publishers.count == 2)
      #expect(supervisor.step(received: nil))
      turns += 1
    }
    #expect(environment.signals(to: environment.publishers[1]) == [Signals.terminate])
    #expect(Set(environment.running.filter { $0.value >= 0 }.keys).isDisjoint(with: workersBefore))
    for old in workersBefore { #expect(environment.signals(to: old) == [Signals.terminate]) }
    #expect(supervisor.step(received: Signals.child))
    #expect(environment.publishers.count == 3)
    // A publisher that dies during a reload is replaced at once, and not again at its end.
    #expect(supervisor.step(received: Signals.hangUp))
    environment.crash(environment.publishers[2])
    for _ in 0..<20 { #expect(supervisor.step(received: nil)) }
    #expect(environment.publishers.count == 4)
    #expect(environment.signals(to: environment.publishers[3]).isEmpty)
    #expect(!supervisor.step(received: Signals.terminate))
    #expect(environment.running.isEmpty)
    #expect(supervisor.publisher == nil)
  }
}
