import Foundation
import TestSupport
import Testing

@testable import Platform

#if canImport(Glibc)
  import Glibc
#endif

/// `Processes.spawn` hands a child exactly what it is given: standard input from the argument,
/// standard output and error, and the listed descriptors; nothing else the parent holds.
struct ProcessesTests {
  /// What a child spawned with `/dev/null` as its standard input, its listing file as 1 and a
  /// handed descriptor as `target` (`nil`: a few above every descriptor this test opens) holds,
  /// while the parent holds a stray descriptor that is not close-on-exec, as another thread's or
  /// a library's may be at any moment, and a copy of it above `target`.
  ///
  /// Only free numbers are taken (`F_DUPFD`: the lowest free one from its argument): a `dup2`
  /// onto a number in use would close another test's descriptor. Tests running alongside may
  /// hold many, so no number is assumed low.
  static func childDescriptors(target: Int32?, addCloseFrom: Processes.CloseFrom?) throws -> (
    held: Set<Int32>, target: Int32, high: Int32
  ) {
    let folder = TemporaryDirectory("contacts-spawn")
    let listing = folder.path + "/descriptors"
    let stray = open("/dev/null", O_RDONLY)
    let handed = open("/dev/null", O_RDONLY)
    let input = open("/dev/null", O_RDONLY)
    // The shell's standard output, handed over as 1.
    let output = open(listing, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    try #require(stray >= 0 && handed >= 0 && input >= 0 && output >= 0)
    defer { for descriptor in [stray, handed, input, output] { close(descriptor) } }
    let target = target ?? max(stray, handed, input, output) + 8
    let high = fcntl(stray, F_DUPFD, max(target + 1, 40))  // above the highest target
    try #require(high > target)
    defer { close(high) }

    // The shell lists its own descriptors with a builtin, opening none (no redirection, no
    // command substitution), up to past every descriptor this test made.
    let candidates = (0...(max(high, stray, handed, input, output) + 8)).map(String.init).joined(separator: " ")
    let pid = try Processes.spawn(
      "/bin/sh", arguments: ["-c", "for fd in \(candidates); do [ -L /proc/$$/fd/$fd ] && echo $fd; done; true"],
      standardInput: input, inherited: [1: output, target: handed], addCloseFrom: addCloseFrom)
    #expect(try Processes.wait(for: pid) == .exited(0))
    let held = Set(try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) })
    return (held, target, high)
  }

  @Test func aChildHoldsOnlyTheDescriptorsItWasHanded() throws {
    let child = try Self.childDescriptors(target: 5, addCloseFrom: Processes.addCloseFrom)
    #expect(child.held == [0, 1, 2, 5], "the child held \(child.held.sorted())")
    #expect(Processes.addCloseFrom != nil, "this machine's glibc has posix_spawn_file_actions_addclosefrom_np")
  }

  /// Where glibc is older than 2.34 (no `posix_spawn_file_actions_addclosefrom_np`), a child
  /// still has every descriptor up to the highest handed-over one closed but those handed; the
  /// ones above it are inherited, as the code says.
  @Test func withoutClosefromOnlyTheDescriptorsBelowTheHighestTargetAreClosed() throws {
    let child = try Self.childDescriptors(target: nil, addCloseFrom: nil)
    #expect(
      child.held.filter { $0 <= child.target }.sorted() == [0, 1, 2, child.target],
      "the child held \(child.held.sorted())")
    #expect(child.held.contains(child.high))
  }
}
