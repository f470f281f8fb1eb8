/// What a request's `Accept-Encoding` says about gzip (RFC 9110 §12.5.3).
///
///     Accept-Encoding = #( codings [ OWS ";" OWS "q=" qvalue ] )
///     codings         = content-coding / "identity" / "*"
///     qvalue          = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
///
/// Codings and `q` are case-insensitive, `x-gzip` is `gzip` (§8.4.1.3), `*` stands for every
/// coding not listed (identity included), identity is acceptable unless refused (and sent
/// whenever gzip is not), and an empty or missing header asks for no coding. gzip is preferred
/// unless identity is given a higher weight, by name or by `*`: a client that lists gzip
/// without weighing identity wants it (`br;q=1, gzip;q=0.9` is a gzip request). An element whose weight is not exactly one valid `q`
/// (`q=1.0000`, `q=abc`, `level=9`) refuses its coding: the safe reading of a header that cannot
/// be read, since sending gzip to a client that refused it breaks that client and not sending it
/// costs only bytes. Linear in the header's length, whatever it holds.
enum AcceptEncoding {
  /// Whether gzip is the coding to send: acceptable (q > 0) and at least as preferred as
  /// identity (a tie goes to gzip, the smaller).
  static func prefersGzip(_ header: String?) -> Bool {
    guard let header else { return false }
    var gzip: Int?  // the lowest weight given to gzip or x-gzip, in thousandths
    var identity: Int?
    var star: Int?
    var bytes = header.utf8[...]
    while !bytes.isEmpty {
      let end = bytes.firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
      let element = bytes[..<end]
      bytes = end == bytes.endIndex ? bytes[end...] : bytes[bytes.index(after: end)...]
      guard let (coding, weight) = parse(element) else { continue }
      switch coding {
      case .gzip: gzip = min(gzip ?? weight, weight)
      case .identity: identity = min(identity ?? weight, weight)
      case .star: star = min(star ?? weight, weight)
      }
    }
    let gzipWeight = gzip ?? star ?? 0
    let identityWeight = identity ?? star ?? 0
    return gzipWeight > 0 && gzipWeight >= identityWeight
  }

  private enum Coding { case gzip, identity, star }

  /// One list element: the coding, if it is one this cares about, and its weight (0 for a
  /// malformed weight); `nil` for an empty element or another coding.
  private static func parse(_ element: Substring.UTF8View) -> (Coding, Int)? {
    let semicolon = element.firstIndex(of: UInt8(ascii: ";"))
    let name = trimmed(element[..<(semicolon ?? element.endIndex)])
    let coding: Coding
    if equalsIgnoringCase(name, "gzip") || equalsIgnoringCase(name, "x-gzip") {
      coding = .gzip
    } else if equalsIgnoringCase(name, "identity") {
      coding = .identity
    } else if name.elementsEqual("*".utf8) {
      coding = .star
    } else {
      return nil
    }
    guard let semicolon else { return (coding, 1000) }
    return (coding, weight(trimmed(element[element.index(after: semicolon)...])) ?? 0)
  }

  /// The thousandths of `q=<qvalue>`; `nil` unless the parameter is exactly that.
  private static func weight(_ parameter: Substring.UTF8View) -> Int? {
    let bytes = Array(parameter)
    guard bytes.count >= 3, bytes[0] | 0x20 == UInt8(ascii: "q"), bytes[1] == UInt8(ascii: "=") else { return nil }
    let value = bytes[2...]
    guard let first = value.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
    let fraction = value.dropFirst()
    if fraction.isEmpty { return first == UInt8(ascii: "1") ? 1000 : 0 }
    let digits = fraction.dropFirst()
    guard fraction.first == UInt8(ascii: "."), digits.count <= 3,
      digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
    else { return nil }
    var thousandths = 0
    for position in 0..<3 {
      let index = digits.startIndex + position
      thousandths = thousandths * 10 + (index < digits.endIndex ? Int(digits[index] - UInt8(ascii: "0")) : 0)
    }
    if first == UInt8(ascii: "1") { return thousandths == 0 ? 1000 : nil }
    return thousandths
  }

  /// Without the optional whitespace (spaces and tabs) around it.
  private static func trimmed(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
    let isWhitespace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    guard let start = bytes.firstIndex(where: { !isWhitespace($0) }) else { return bytes[bytes.endIndex...] }
    let end = bytes.lastIndex(where: { !isWhitespace($0) })!
    return bytes[start...end]
  }

  /// ASCII case-insensitive equality with a lowercase `name`.
  private static func equalsIgnoringCase(_ bytes: Substring.UTF8View, _ name: StaticString) -> Bool {
    guard bytes.count == name.utf8CodeUnitCount else { return false }
    return name.withUTF8Buffer { expected in
      zip(bytes, expected).allSatisfy { byte, lower in
        byte == lower || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == lower)
      }
    }
  }
}
