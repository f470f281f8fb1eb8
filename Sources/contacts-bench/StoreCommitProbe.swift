// `contacts-bench --store-commit-probe [SECONDS]`: acknowledged commits per second of the real
// store. N processes (1, 2, 4, 8) each open one data directory with `FileContactRepository` and
// commit one create after another, counting a commit once `commit` returned (durable: what a
// worker answers 201 after). The reference is the disk's serial rate of write(200 bytes) +
// fdatasync in one process, measured in the same temporary folder just before (what
// deploy/bench.sh divides POST by).

import ContactsCore
import ContactsStore
import Foundation
import Platform

/// One store writer (a child process): commits creates to `directory` for `milliseconds`,
/// prints how many were acknowledged; with `printEach`, prints each acknowledged id on a line of
/// its own instead, with one write(2) as soon as `commit` returned (a test kills writers and
/// checks that every id printed survived).
func runStoreWriter(directory: String, milliseconds: Int, printEach: Bool) throws {
  let repository = try FileContactRepository(directory: directory)
  let deadline = Clock.monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
  var count = 0
  while Clock.monotonicNanoseconds() < deadline {
    let id = String(format: "%016llx%016llx", UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
    let contact = Contact(id: id, type: .custom, name: "Probe \(count)", phoneNumber: "+1 555 \(count)")
    _ = try repository.commit(by: "bench") { _ in .create(contact) }
    if printEach { StandardOutput.write(id + "\n") }
    count += 1
  }
  if !printEach { print(count) }
}

/// write(200 bytes) + fdatasync, serially, for `milliseconds`: operations per second.
func serialAppendRate(directory: String, milliseconds: Int) throws -> Double {
  let file = try FileDescriptor(open: directory + "/fdatasync.tmp", [.writeOnly, .create, .append], mode: 0o600)
  let line = Array((String(repeating: "x", count: 199) + "\n").utf8)
  let start = Clock.monotonicNanoseconds()
  let deadline = start + UInt64(milliseconds) * 1_000_000
  var count = 0
  while Clock.monotonicNanoseconds() < deadline {
    try file.writeAll(line)
    try file.syncData()
    count += 1
  }
  return Double(count) / (Double(Clock.monotonicNanoseconds() - start) / 1e9)
}

/// Runs the store writers, 1 to 8 at a time, and prints acknowledged commits per second beside
/// the disk's serial append+fdatasync rate.
func runStoreCommitProbe(seconds: Int) throws {
  let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
  print("store commit probe: acknowledged commits/s through FileContactRepository (N processes, \(seconds) s each)")
  print("writers   disk append+fdatasync   store commits   ÷ disk")
  for writers in [1, 2, 4, 8] {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    _ = try FileContactRepository(directory: directory)  // created once, not raced by the writers
    let disk = try serialAppendRate(directory: directory, milliseconds: 1000)
    let total = try runWriterProcesses(
      executable, count: writers, arguments: ["--store-writer", directory, String(seconds * 1000)])
    let rate = Double(total) / Double(seconds)
    print(String(format: "%7d   %19.0f/s   %11.0f/s   %.2fx", writers, disk, rate, rate / disk))
  }
}
