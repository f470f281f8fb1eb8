import Compression
import TestSupport
import Testing

/// gzip and gunzip against each other and against the system's gzip (an independent decoder and
/// encoder), from nothing to several megabytes.
@Suite struct GzipTests {
  /// A listing-like JSON text: repetitive, like the bodies the service compresses.
  static func listingLike(_ count: Int) -> [UInt8] {
    var random = SeededRandom(seed: 15)
    var text = #"{"contacts":["#
    for index in 0..<count {
      if index > 0 { text += "," }
      text += #"{"id":"\#(String(random.next(), radix: 16))","name":"Person \#(index)","type":"Custom","#
      text += #""phoneNumber":"555 \#(random.next() % 10_000)"}"#
    }
    return Array((text + "]}").utf8)
  }

  /// Bytes that do not compress at all: deflate's stored blocks, the worst case of deflateBound.
  static func noise(_ count: Int) -> [UInt8] {
    var random = SeededRandom(seed: 1)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
  }

  static let inputs: [(name: String, bytes: [UInt8])] = [
    ("empty", []), ("one byte", [0x7b]), ("text", Array("Hello, gzip".utf8)),
    ("a listing of 1,000", listingLike(1000)), ("a listing of 40,000 (~3 MB)", listingLike(40_000)),
    ("1 MB of noise", noise(1 << 20)),
  ]

  @Test(arguments: inputs.indices)
  func roundTripsThroughItsOwnGunzipAndTheSystemsGzip(index: Int) throws {
    let (name, bytes) = Self.inputs[index]
    for level in [1, 6, 9] {
      let zipped = gzip(bytes, level: level)
      #expect(zipped.starts(with: [0x1f, 0x8b, 8]), "\(name), level \(level): not a gzip header")
      #expect(try gunzip(zipped) == bytes, "\(name), level \(level)")
      #expect(try systemGunzip(zipped) == bytes, "\(name), level \(level): the system's gzip disagrees")
    }
  }

  @Test func readsWhatTheSystemsGzipWrites() throws {
    let bytes = Self.listingLike(2000)
    #expect(try gunzip(systemGzip(bytes)) == bytes)
    #expect(try gunzip(systemGzip([])) == [])
  }

  @Test func compressesAListingSeveralFold() {
    let bytes = Self.listingLike(10_000)
    #expect(gzip(bytes, level: 6).count * 3 < bytes.count)
    #expect(gzip(bytes, level: 9).count <= gzip(bytes, level: 1).count)
  }

  @Test func levelsOutsideOneToNineAreClamped() throws {
    let bytes = Self.listingLike(100)
    #expect(try gunzip(gzip(bytes, level: 0)) == bytes)
    #expect(try gunzip(gzip(bytes, level: 42)) == bytes)
  }

  @Test func refusesWhatIsNotOneIntactMember() throws {
    let bytes = Self.listingLike(500)
    let zipped = gzip(bytes)
    #expect(throws: GunzipError.self) { try gunzip([]) }
    #expect(throws: GunzipError.self) { try gunzip(bytes) }
    #expect(throws: GunzipError.self) { try gunzip(Array(zipped.dropLast(1))) }
    #expect(throws: GunzipError.self) { try gunzip(Array(zipped.prefix(zipped.count / 2))) }
    #expect(throws: GunzipError.self) { try gunzip(zipped + [0]) }
    var corrupt = zipped
    corrupt[corrupt.count - 6] ^= 0xff  // the CRC-32
    #expect(throws: GunzipError.self) { try gunzip(corrupt) }
    #expect(throws: GunzipError.self) { try gunzip(zipped, limit: bytes.count - 1) }
    #expect(try gunzip(zipped, limit: bytes.count) == bytes)
  }
}
