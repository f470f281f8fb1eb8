/// The framing of a response written past libfcgi's stream: `FCGI_STDOUT` records of up to
/// 65,535 content bytes, each an 8-byte header followed by a run of the head's bytes and then of
/// the body's, without copying either (see `FastCGIConnection.respond(_:to:)`).
///
/// Pure arithmetic, so that it is tested apart from any socket: the records carry every byte of
/// the head then of the body, in order, none empty and none longer than the protocol allows.
/// No padding: it is optional in FastCGI (libfcgi pads to a multiple of 8, nginx accepts either).
enum FastCGIRecords {
  /// The largest content of one record: its length is a 16-bit field.
  static let maximumContentLength = 65_535
  static let headerLength = 8
  /// `FCGI_VERSION_1`.
  static let version: UInt8 = 1
  /// `FCGI_STDOUT`.
  static let stdoutType: UInt8 = 6

  /// One record: which bytes of the head and of the body it carries (either may be empty, not
  /// both).
  struct Record: Equatable {
    var head: Range<Int>
    var body: Range<Int>
    var contentLength: Int { head.count + body.count }
  }

  /// The records that carry `headCount` bytes of head, then `bodyCount` bytes of body, each as
  /// full as `maximumContentLength` allows (the last one takes what is left).
  static func stdoutRecords(headCount: Int, bodyCount: Int, maximumContentLength: Int = maximumContentLength)
    -> [Record]
  {
    precondition(headCount >= 0 && bodyCount >= 0 && maximumContentLength > 0)
    var records: [Record] = []
    records.reserveCapacity((headCount + bodyCount) / maximumContentLength + 1)
    var headDone = 0
    var bodyDone = 0
    while headDone < headCount || bodyDone < bodyCount {
      let headPart = min(headCount - headDone, maximumContentLength)
      let bodyPart = min(bodyCount - bodyDone, maximumContentLength - headPart)
      records.append(Record(head: headDone..<headDone + headPart, body: bodyDone..<bodyDone + bodyPart))
      headDone += headPart
      bodyDone += bodyPart
    }
    return records
  }

  /// The 8-byte header of a record of `type` for `requestID` carrying `contentLength` bytes and
  /// no padding.
  static func header(type: UInt8 = stdoutType, requestID: Int, contentLength: Int) -> [UInt8] {
    precondition(contentLength >= 0 && contentLength <= maximumContentLength)
    precondition(requestID >= 0 && requestID <= 0xFFFF)
    return [
      version, type, UInt8(requestID >> 8), UInt8(requestID & 0xFF),
      UInt8(contentLength >> 8), UInt8(contentLength & 0xFF), 0, 0,
    ]
  }

  /// The headers of `records`, one after the other (8 bytes each), so that one buffer holds them
  /// all while the records are written.
  static func headers(of records: [Record], requestID: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(records.count * headerLength)
    for record in records {
      bytes.append(contentsOf: header(requestID: requestID, contentLength: record.contentLength))
    }
    return bytes
  }
}
