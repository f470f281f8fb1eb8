// `contacts-bench --group-commit-probe`: would group commit pay? N processes append 200-byte
// lines to one file under one flock, each `fdatasync`ing either under the lock (what the store
// does: one flush per write) or after letting go of it (group commit: a flush covers every line
// written before it, so writers waiting behind one flush share the next). Each writer counts a
// line once its own `fdatasync` returned: acknowledged writes per second.

import Foundation
import Platform

/// One writer (a child process): appends for `milliseconds`, prints how many lines it made durable.
func runProbeWriter(mode: String, path: String, milliseconds: Int) throws {
  let lock = try FileLock(path: path + ".lock")
  let file = try FileDescriptor(open: path, [.writeOnly, .create, .append], mode: 0o600)
  let line = Array((String(repeating: "x", count: 199) + "\n").utf8)
  let deadline = Clock.monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
  var count = 0
  while Clock.monotonicNanoseconds() < deadline {
    if mode == "locked" {
      try lock.withExclusiveLock { () throws(SystemError) in
        try file.writeAll(line)
        try file.syncData()
      }
    } else {
      try lock.withExclusiveLock { () throws(SystemError) in try file.writeAll(line) }
      try file.syncData()
    }
    count += 1
  }
  print(count)
}

/// Runs the writers, 1 to 16 at a time, both ways, and prints acknowledged lines per second.
func runGroupCommitProbe(seconds: Int = 2) throws {
  let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
  print("group commit probe: acknowledged appends/s (200-byte lines, one file, N processes, \(seconds) s each)")
  print("writers   fdatasync under the lock   fdatasync after it   gain")
  for writers in [1, 2, 4, 8, 16] {
    var rates: [String: Double] = [:]
    for mode in ["locked", "group"] {
      let directory = temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let total = try runWriterProcesses(
        executable, count: writers,
        arguments: ["--probe-writer", mode, directory + "/journal", String(seconds * 1000)])
      rates[mode] = Double(total) / Double(seconds)
    }
    let locked = rates["locked"] ?? 0
    let group = rates["group"] ?? 0
    print(
      String(format: "%7d   %20.0f/s   %16.0f/s   %.2fx", writers, locked, group, locked > 0 ? group / locked : 0))
  }
}

/// Starts `count` copies of this executable with `arguments` at once, waits for all of them, and
/// returns the sum of the numbers they printed (each writer prints how many it made durable).
func runWriterProcesses(_ executable: URL, count: Int, arguments: [String]) throws -> Int {
  let processes = try (0..<count).map { _ -> (Process, Pipe) in
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    return (process, output)
  }
  var total = 0
  for (process, output) in processes {
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    total += Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
  }
  return total
}
