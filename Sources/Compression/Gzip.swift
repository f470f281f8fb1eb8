internal import CZlib

// gzip (RFC 1952) in one piece, over zlib: the only code that calls zlib or holds its stream.
//
// zlib checks that a stream stays where it was initialized, so the `z_stream` lives in memory
// of its own (never a Swift variable passed `inout`, which may move between calls).

/// The gzip file of `bytes`: a header, the deflated data, the CRC-32 and the length.
///
/// - Parameter level: 1 (fastest) to 9 (smallest); zlib's default is 6. Values outside are
///   clamped.
public func gzip(_ bytes: [UInt8], level: Int = 6) -> [UInt8] {
  let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
  stream.initialize(to: z_stream())
  defer {
    deflateEnd(stream)
    stream.deinitialize(count: 1)
    stream.deallocate()
  }
  let started = contacts_gzip_deflate_init(stream, Int32(min(max(level, 1), 9)))
  // Only a failed allocation of zlib's state (~270 KB) gets here: as for any allocation in Swift.
  precondition(started == Z_OK, "zlib could not start deflating (\(started)): out of memory")
  // The most the whole input can take, header and trailer included: one output buffer is enough.
  let capacity = Int(deflateBound(stream, uLong(bytes.count)))
  return bytes.withUnsafeBufferPointer { input in
    [UInt8](unsafeUninitializedCapacity: capacity) { output, written in
      // zlib never writes through next_in (it is `const` when built with ZLIB_CONST).
      stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
      stream.pointee.next_out = output.baseAddress
      var unread = input.count
      var status = Z_OK
      // avail_in and avail_out are 32-bit: more than 4 GiB goes in several calls.
      while status == Z_OK {
        let offered = min(unread, Int(uInt.max))
        let room = min(capacity - written, Int(uInt.max))
        stream.pointee.avail_in = uInt(offered)
        stream.pointee.avail_out = uInt(room)
        status = deflate(stream, offered == unread ? Z_FINISH : Z_NO_FLUSH)
        unread -= offered - Int(stream.pointee.avail_in)
        written += room - Int(stream.pointee.avail_out)
      }
      precondition(status == Z_STREAM_END, "zlib's deflate ended with \(status) within deflateBound")
    }
  }
}

/// Why bytes are not a gzip file.
public struct GunzipError: Error, Equatable, CustomStringConvertible {
  public var description: String
}

/// The bytes a gzip file holds: exactly one member, checked against its CRC-32 and length.
///
/// - Parameter limit: the most bytes to produce; more is an error (a small file can hold a
///   very large output).
/// - Throws: `GunzipError` for anything that is not exactly one complete, intact gzip member.
public func gunzip(_ bytes: [UInt8], limit: Int = 1 << 30) throws -> [UInt8] {
  let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
  stream.initialize(to: z_stream())
  defer {
    inflateEnd(stream)
    stream.deinitialize(count: 1)
    stream.deallocate()
  }
  let started = contacts_gzip_inflate_init(stream)
  precondition(started == Z_OK, "zlib could not start inflating (\(started)): out of memory")
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 16)
  try bytes.withUnsafeBufferPointer { input in
    stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
    var unread = input.count
    var status = Z_OK
    while status == Z_OK {
      let offered = min(unread, Int(uInt.max))
      stream.pointee.avail_in = uInt(offered)
      let produced = chunk.withUnsafeMutableBufferPointer { output in
        stream.pointee.next_out = output.baseAddress
        stream.pointee.avail_out = uInt(output.count)
        status = inflate(stream, Z_NO_FLUSH)
        return output.count - Int(stream.pointee.avail_out)
      }
      unread -= offered - Int(stream.pointee.avail_in)
      guard result.count + produced <= limit else {
        throw GunzipError(description: "the data is larger than the limit of \(limit) bytes")
      }
      result.append(contentsOf: chunk[..<produced])
      // No progress and nothing left to read: the input ended before the member did.
      if status == Z_BUF_ERROR && unread == 0 { throw GunzipError(description: "the gzip data is truncated") }
      if status == Z_BUF_ERROR { status = Z_OK }
    }
    guard status == Z_STREAM_END else {
      let detail = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
      throw GunzipError(description: "not gzip data: \(detail)")
    }
    guard unread == 0 else { throw GunzipError(description: "\(unread) bytes follow the gzip data") }
  }
  return result
}
