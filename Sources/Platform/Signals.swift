internal import Glibc

/// Signal handling, the same way in both kinds of process here: the signals a process acts on
/// are blocked and taken synchronously with `sigtimedwait(2)` when the process is ready for them
/// (the supervisor in its loop, a worker between requests), so no syscall is ever interrupted.
public enum Signals {
  public static let terminate = SIGTERM
  public static let interrupt = SIGINT
  public static let hangUp = SIGHUP
  public static let child = SIGCHLD
  public static let kill = SIGKILL
  public static let pipe = SIGPIPE
  public static let user1 = SIGUSR1

  /// Installs a handler that does nothing for each of `signals`. A worker does this before
  /// `FCGX_Init`, which would otherwise install libfcgi's own handlers (they make every later
  /// read fail); the signals themselves stay blocked and are taken with `wait(for:…)`.
  public static func installInertHandlers(for signals: [Int32]) {
    for signal in signals {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { _ in }
      sigemptyset(&action.sa_mask)
      action.sa_flags = SA_RESTART
      Syscall.bestEffort("sigaction") { sigaction(signal, &action, nil) }
    }
  }

  /// Sets `signals` to be ignored (for `SIGPIPE`: a write to a gone peer fails with `EPIPE`).
  public static func ignore(_ signals: [Int32]) {
    for signal in signals {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = SIG_IGN
      sigemptyset(&action.sa_mask)
      Syscall.bestEffort("sigaction") { sigaction(signal, &action, nil) }
    }
  }

  /// Blocks `signals` for this process, so that `wait(for:timeoutMilliseconds:)` takes them.
  public static func block(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    Syscall.bestEffort("sigprocmask") { sigprocmask(SIG_BLOCK, &set, nil) }
  }

  /// `sigtimedwait(2)`: the next of the blocked `signals`, or `nil` after the timeout (0: just
  /// look).
  public static func wait(for signals: [Int32], timeoutMilliseconds: Int) -> Int32? {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    var timeout = timespec(
      tv_sec: timeoutMilliseconds / 1000, tv_nsec: (timeoutMilliseconds % 1000) * 1_000_000)
    // EAGAIN is the timeout; EINTR (another signal's handler ran) also just ends this wait.
    let number = try? Syscall.call("sigtimedwait", retryOnInterrupt: false) { sigtimedwait(&set, nil, &timeout) }
    return number.flatMap { $0 > 0 ? $0 : nil }
  }
}
