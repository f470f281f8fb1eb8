import Platform
import TestSupport
import Testing

/// `FileDescriptor.readToEnd`, which every snapshot, directory file and journal tail is read
/// with: sized by `fstat`, read straight into the array, and still whole when the file is
/// longer than `fstat` said (it grew meanwhile, or is a `/proc` file that says 0).
struct ReadToEndTests {
  @Test(arguments: [0, 1, 4095, 65_536, 65_537, 3_000_001])
  func everyByteFromAnyOffset(size: Int) throws {
    let directory = TemporaryDirectory()
    let path = directory.file("bytes")
    let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
    try FileSystem.replaceAtomically(path, with: bytes)
    let file = try FileDescriptor(open: path, .readOnly)
    for offset in Set([0, 1, size / 2, max(0, size - 1), size, size + 10]) {
      #expect(try file.readToEnd(from: Int64(offset)) == Array(bytes.dropFirst(offset)), "from \(offset) of \(size)")
    }
  }

  /// `/proc/self/maps` has a size of 0 to `fstat` and some kilobytes to `read`: the bytes past
  /// what `fstat` said are read too, as a file that grew between the two would be.
  @Test func aFileLongerThanItsSizeIsReadWhole() throws {
    let file = try FileDescriptor(open: "/proc/self/maps", .readOnly)
    #expect(try file.identity().size == 0)
    let text = String(decoding: try file.readToEnd(), as: UTF8.self)
    #expect(text.count > 1000)
    #expect(text.hasSuffix("\n"))
    #expect(text.contains("[stack]"))
  }
}
