internal import Glibc

/// Work started on a thread of its own, and its result, taken with `join()`.
///
/// Workers are single-threaded; this is for the one job they split: loading the data directory
/// when they start, where a second thread parses half the snapshot's contacts and another
/// scans the journal, while the first parses the rest. When no thread can be created, the
/// work runs in `join()` instead: slower, never wrong. Dropped without `join()`, it still waits
/// for its thread.
public final class BackgroundWork<Result: Sendable> {
  private let slot = Slot<Result>()
  private let work: @Sendable () -> Result
  private var thread: pthread_t?

  /// Starts `work` on a new thread.
  public init(_ work: @escaping @Sendable () -> Result) {
    self.work = work
    let slot = slot
    let start = ThreadStart { slot.result = work() }
    let context = Unmanaged.passRetained(start).toOpaque()
    var thread = pthread_t()
    if pthread_create(&thread, nil, threadEntry, context) == 0 {
      self.thread = thread
    } else {
      Unmanaged<ThreadStart>.fromOpaque(context).release()
    }
  }

  /// Waits for the work to end (runs it here if it has no thread) and returns its result.
  public func join() -> Result {
    if let thread {
      pthread_join(thread, nil)
      self.thread = nil
    }
    if let result = slot.result { return result }
    let result = work()
    slot.result = result
    return result
  }

  deinit {
    if let thread { pthread_join(thread, nil) }
  }
}

/// Where the thread leaves the result: written by it before it ends, read after
/// `pthread_join`, which orders the two.
private final class Slot<Result>: @unchecked Sendable {
  var result: Result?
}

private final class ThreadStart: @unchecked Sendable {
  let body: @Sendable () -> Void
  init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

private func threadEntry(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue().body()
  return nil
}
