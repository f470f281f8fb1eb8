import Synchronization

#if canImport(Glibc)
  internal import Glibc
#elseif canImport(Darwin)
  internal import Darwin
#endif

/// Signals received by the handler, one bit per signal number. An atomic store is
/// async-signal-safe, which is all the handler does.
private let receivedSignals = Atomic<UInt64>(0)

/// Signal handling for the two kinds of process here.
///
/// Workers install flag-setting handlers *without* `SA_RESTART`, so a blocking `accept(2)`
/// returns `EINTR` and the worker can stop between requests. The supervisor blocks its signals
/// and takes them synchronously with `sigtimedwait(2)`, so it needs no handler at all.
public enum Signals {
  public static let terminate = SIGTERM
  public static let interrupt = SIGINT
  public static let hangUp = SIGHUP
  public static let child = SIGCHLD
  public static let kill = SIGKILL
  public static let pipe = SIGPIPE
  public static let user1 = SIGUSR1
  public static let user2 = SIGUSR2

  /// Installs a handler that records each of `signals` for `take()`; interrupted syscalls
  /// fail with `EINTR` instead of restarting.
  public static func installFlagHandlers(for signals: [Int32]) {
    for signal in signals {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { number in
        receivedSignals.bitwiseOr(UInt64(1) << UInt64(number), ordering: .relaxed)
      }
      sigemptyset(&action.sa_mask)
      action.sa_flags = 0
      sigaction(signal, &action, nil)
    }
  }

  /// Sets `signals` to be ignored (for `SIGPIPE`: a write to a gone peer fails with `EPIPE`).
  public static func ignore(_ signals: [Int32]) {
    for signal in signals {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = SIG_IGN
      sigemptyset(&action.sa_mask)
      sigaction(signal, &action, nil)
    }
  }

  /// Whether `signal` has been recorded since the last `take()`; leaves it recorded.
  public static func isPending(_ signal: Int32) -> Bool {
    receivedSignals.load(ordering: .relaxed) & (UInt64(1) << UInt64(signal)) != 0
  }

  /// Returns and clears every recorded signal.
  public static func take() -> [Int32] {
    let bits = receivedSignals.exchange(0, ordering: .relaxed)
    return (1..<64).filter { bits & (UInt64(1) << UInt64($0)) != 0 }.map { Int32($0) }
  }

  /// Blocks `signals` for this process, so that `wait(for:timeoutMilliseconds:)` takes them.
  public static func block(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    sigprocmask(SIG_BLOCK, &set, nil)
  }

  /// Unblocks `signals` (pending ones are delivered at once).
  public static func unblock(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    sigprocmask(SIG_UNBLOCK, &set, nil)
  }

  /// `sigtimedwait(2)`: the next of the blocked `signals`, or `nil` after the timeout.
  public static func wait(for signals: [Int32], timeoutMilliseconds: Int) -> Int32? {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    var timeout = timespec(
      tv_sec: timeoutMilliseconds / 1000, tv_nsec: (timeoutMilliseconds % 1000) * 1_000_000)
    let number = sigtimedwait(&set, nil, &timeout)
    return number > 0 ? number : nil
  }
}
