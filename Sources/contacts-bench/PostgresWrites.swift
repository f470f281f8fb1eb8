// contacts-bench's PostgreSQL write probe (`--postgres-writes URL [SECONDS]`): the store's own
// commit path, without nginx or the API, at 1, 2 and 16 writers.
//
// Each writer is a thread with a repository (a connection) of its own, as each worker process
// has one, and commits one created contact after another for SECONDS (default 5). It prints the
// commits per second and, from the repository's own clock, how long each commit held the
// generation row lock: from the lock's result arriving to the `COMMIT`'s (the two transit times
// of the trip from and to the server roughly cancel). Since every write takes that lock, the
// rate with many writers is at most 1 ÷ the time it is held: that time is the ceiling of the
// design, and what a change to the write path must shorten.

import ContactsCore
import ContactsPostgres
import Foundation
import Platform

/// What the writer threads report, under a lock.
private final class WriterResults: @unchecked Sendable {
  // @unchecked: every access holds `lock`.
  private let lock = NSLock()
  private var holds: [Double] = []
  private var commits = 0
  private var failures: [String] = []

  func add(holds more: [Double], commits count: Int, failure: String?) {
    lock.withLock {
      holds += more
      commits += count
      if let failure { failures.append(failure) }
    }
  }

  var summary: (holds: [Double], commits: Int, failures: [String]) { lock.withLock { (holds, commits, failures) } }
}

/// Runs the probe against the database at `url` (migrated, any contents).
func runPostgresWriteProbe(url: String, seconds: Double) throws {
  print("PostgreSQL commit path, \(Int(seconds)) s per row: one created contact per transaction")
  print("writers   commits/s   lock held: median      p90      p99")
  for writers in [1, 2, 16] {
    let results = WriterResults()
    let deadline = Clock.monotonicNanoseconds() + UInt64(seconds * 1e9)
    let done = DispatchGroup()
    for writer in 0..<writers {
      done.enter()
      let thread = Thread {
        defer { done.leave() }
        var holds: [Double] = []
        var count = 0
        do {
          let repository = try PostgresContactRepository(url: url)
          _ = try repository.currentState()
          while Clock.monotonicNanoseconds() < deadline {
            let contact = Contact(
              id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), type: .custom,
              name: "Probe \(writer) \(count)", phoneNumber: "+1 555 \(count)")
            _ = try repository.commit(by: "bench") { _ in .create(contact) }
            holds.append(Double(repository.lastWriteLockNanoseconds) / 1000)
            count += 1
          }
          results.add(holds: holds, commits: count, failure: nil)
        } catch {
          results.add(holds: holds, commits: count, failure: "\(error)")
        }
      }
      thread.start()
    }
    done.wait()
    let (holds, commits, failures) = results.summary
    if let failure = failures.first { print("  \(failures.count) writer(s) failed: \(failure)") }
    guard !holds.isEmpty else { continue }
    print(
      String(
        format: "%7d %11.0f %16.0f µs %6.0f µs %6.0f µs", writers, Double(commits) / seconds,
        percentile(holds, 0.5), percentile(holds, 0.9), percentile(holds, 0.99)))
  }
}
