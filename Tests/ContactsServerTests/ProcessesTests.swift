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
  @Test func aChildHoldsOnlyTheDescriptorsItWasHanded() throws {
    let folder = TemporaryDirectory("contacts-spawn")
    let listing = folder.path + "/descriptors"
    // Not close-on-exec, as a descriptor of another thread or library may be at any moment.
    let stray = open("/dev/null", O_RDONLY)
    let handed = open("/dev/null", O_RDONLY)
    let input = open("/dev/null", O_RDONLY)
    try #require(stray >= 0 && handed >= 0 && input >= 0)
    defer { for descriptor in [stray, handed, input] { close(descriptor) } }
    // Above the handed-over target too, so that both the gap and the rest are covered. A free
    // descriptor (`F_DUPFD`: the lowest free one from 40): a `dup2` onto a number in use would
    // close another test's descriptor.
    let high = fcntl(stray, F_DUPFD, 40)
    try #require(high >= 40)
    defer { close(high) }

    // The shell lists its own descriptors with a builtin, opening none (no redirection, no
    // command substitution); its standard output is the listing file, handed over as 1.
    let output = open(listing, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    try #require(output >= 0)
    defer { close(output) }
    // Every descriptor this test made, whatever numbers other tests running alongside left it.
    let candidates = (0...(max(high, stray, handed, input, output) + 8)).map(String.init).joined(separator: " ")
    let pid = try Processes.spawn(
      "/bin/sh", arguments: ["-c", "for fd in \(candidates); do [ -L /proc/$$/fd/$fd ] && echo $fd; done; true"],
      standardInput: input, inherited: [1: output, 5: handed])
    #expect(try Processes.wait(for: pid) == .exited(0))
    let held = Set(try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n").map(String.init))
    #expect(held == ["0", "1", "2", "5"], "the child held \(held.sorted { Int($0)! < Int($1)! })")
  }

  /// Where glibc is older than 2.34 (no `posix_spawn_file_actions_addclosefrom_np`), a child
  /// still has every descriptor up to the highest handed-over one closed but those handed; the
  /// ones above it are inherited, as the code says.
  @Test func withoutClosefromOnlyTheDescriptorsBelowTheHighestTargetAreClosed() throws {
    let folder = TemporaryDirectory("contacts-spawn-fallback")
    let listing = folder.path + "/descriptors"
    // Free descriptors only (`F_DUPFD` takes the lowest free one from its argument): a `dup2`
    // onto a number in use would close another test's descriptor.
    let stray = open("/dev/null", O_RDONLY)
    let handed = open("/dev/null", O_RDONLY)
    let input = open("/dev/null", O_RDONLY)
    try #require(stray >= 0 && handed >= 0 && input >= 0)
    defer { for descriptor in [stray, handed, input] { close(descriptor) } }
    let output = open(listing, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    try #require(output >= 0)
    defer { close(output) }
    // Above every descriptor this test made, whatever numbers other tests left it.
    let target = max(stray, handed, input, output) + 8
    let high = fcntl(stray, F_DUPFD, target + 1)  // above the highest target: inherited
    try #require(high > target)
    defer { close(high) }
    let candidates = (0...(high + 8)).map(String.init).joined(separator: " ")
    let pid = try Processes.spawn(
      "/bin/sh", arguments: ["-c", "for fd in \(candidates); do [ -L /proc/$$/fd/$fd ] && echo $fd; done; true"],
      standardInput: input, inherited: [1: output, target: handed], addCloseFrom: nil)
    #expect(try Processes.wait(for: pid) == .exited(0))
    let held = Set(try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) })
    #expect(held.filter { $0 <= target }.sorted() == [0, 1, 2, target], "the child held \(held.sorted())")
    #expect(held.contains(high))
    #expect(Processes.addCloseFrom != nil, "this machine's glibc has posix_spawn_file_actions_addclosefrom_np")
  }
}
