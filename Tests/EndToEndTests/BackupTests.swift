import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `contacts-fcgi backup` of a data directory the pool is writing to.
@Suite(.serialized, .tags(.endToEnd))
struct BackupTests {
  /// The ids of custom contacts whose creation was acknowledged (201), in order.
  final class Acknowledged: @unchecked Sendable {
    // @unchecked: the array is only touched under `lock`.
    private let lock = NSLock()
    private var ids: [String] = []
    func append(_ id: String) { lock.withLock { ids.append(id) } }
    var all: [String] { lock.withLock { ids } }
  }

  static func customIDs(_ stack: LocalStack) throws -> Set<String> {
    let listing = try stack.client.request("GET", "/contacts?type=Custom", user: "admin")
    #expect(listing.status == 200, "\(listing)")
    return Set(listing.contacts.compactMap { $0["id"] })
  }

  /// A client writes without pause through the backup; compactions (a small threshold) race the
  /// copy. The backup passes `check`, holds every write acknowledged before it began, and a stack
  /// served from it answers them.
  @Test func aBackupWhileWritingHoldsEveryAcknowledgedWriteAndCanBeServed() throws {
    let stack = try LocalStack(workers: 2, serveArguments: ["--journal-compaction-bytes", "4096"])
    let client = stack.client
    let stop = StopFlag()
    defer { stop.set() }
    let acknowledged = Acknowledged()
    let writer = startThread { () -> [String] in
      var failures: [String] = []
      var index = 0
      while !stop.isSet {
        index += 1
        do {
          let response = try client.request(
            "POST", "/contacts", user: "admin", json: #"{"name":"Backup \#(index)","phoneNumber":"555 \#(index)"}"#)
          if response.status == 201, let id = response.json?["id"] as? String {
            acknowledged.append(id)
          } else {
            failures.append("\(response.status)")
          }
        } catch {
          failures.append("\(error)")
        }
      }
      return failures
    }
    #expect(eventually(within: 20) { acknowledged.all.count >= 150 })
    let target = stack.directory.file("backup")
    let before = Set(acknowledged.all)
    let backup = try stack.command(["backup", "--data-dir", stack.dataDirectory, "--to", target])
    let duringOrAfter = acknowledged.all.count
    #expect(eventually(within: 10) { acknowledged.all.count >= duringOrAfter + 20 }, "writes go on after the backup")
    stop.set()
    #expect(writer().isEmpty)
    #expect(backup.status == 0, "\(backup.output) \(backup.errors)")
    #expect(backup.output.contains("backed up"), "\(backup.output)")

    let check = try stack.command(["check", "--data-dir", target])
    #expect(check.status == 0 && check.output.hasSuffix("ok\n"), "\(check.output)")
    // A copy inside the directory it copies is refused, and nothing is written there.
    let inside = try stack.command(
      ["backup", "--data-dir", stack.dataDirectory, "--to", stack.dataDirectory + "/nested/backup"])
    #expect(inside.status != 0 && inside.errors.contains("is inside the data directory"), "\(inside.errors)")
    #expect(!FileManager.default.fileExists(atPath: stack.dataDirectory + "/nested"))
    // Nothing but the copy's own files: no lock was taken over, no temporary left beside it.
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: stack.directory.path).filter {
      $0.contains(".partial-")
    }
    #expect(leftovers.isEmpty, "\(leftovers)")

    stack.stop()
    let restored = try LocalStack(workers: 1, demoData: false, dataDirectory: target)
    let served = try Self.customIDs(restored)
    #expect(before.isSubset(of: served), "missing: \(before.subtracting(served).prefix(5))")
    #expect(try restored.client.request("GET", "/contacts?type=User", user: "agent").contacts.count > 0)
    // The restored directory takes writes of its own.
    let created = try restored.client.request(
      "POST", "/contacts", user: "admin", json: #"{"name":"After restore","phoneNumber":"555 0"}"#)
    #expect(created.status == 201)
  }

  /// A backup killed part-way leaves nothing at the destination that could pass for a backup; the
  /// next backup to the same destination clears what it left and succeeds.
  @Test func aKilledBackupLeavesNoBackupBehind() throws {
    let stack = try LocalStack(workers: 1)
    #expect(
      try stack.client.request("POST", "/contacts", user: "admin", json: #"{"name":"Kept","phoneNumber":"555"}"#)
        .status == 201)
    let target = stack.directory.file("backup")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: serviceBinary)
    process.arguments = [
      "backup", "--data-dir", stack.dataDirectory, "--to", target, "--test-pause-before-rename-ms", "30000",
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let partial = stack.directory.file(".backup.partial-\(process.processIdentifier)")
    // Copied and checked, not yet renamed: the last moment a kill can come.
    #expect(eventually(within: 10) { FileManager.default.fileExists(atPath: "\(partial)/journal.jsonl") })
    usleep(200_000)
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(!FileManager.default.fileExists(atPath: target))
    let check = try stack.command(["check", "--data-dir", target])
    #expect(check.status != 0, "\(check.output)")

    let again = try stack.command(["backup", "--data-dir", stack.dataDirectory, "--to", target])
    #expect(again.status == 0, "\(again.errors)")
    #expect(!FileManager.default.fileExists(atPath: partial))
    #expect(try stack.command(["check", "--data-dir", target]).status == 0)
    // A second backup never overwrites the first.
    let refused = try stack.command(["backup", "--data-dir", stack.dataDirectory, "--to", target])
    #expect(refused.status != 0 && refused.errors.contains("no backup was made"), "\(refused.errors)")
  }
}
