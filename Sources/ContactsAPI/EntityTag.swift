import ContactsCore

/// Entity tags and the conditional-request headers that compare them (RFC 9110 §8.8.3, §13).
///
/// Tags come from the data's generation, so a conditional request is answered without
/// serializing anything: a contact's tag is the sequence number of the change that last wrote
/// it; a listing's tag is the generation plus a hash of the query.
enum EntityTag {
  static func forContact(version: UInt64) -> String { "\"v\(version)\"" }

  /// A contact shown with only `fields`: the version plus a hash of the attributes kept, so
  /// that each projection has its own tag (`"v42-…"`) and the whole contact keeps `"v42"`.
  static func forContact(version: UInt64, fields: Set<ContactAttribute>?) -> String {
    guard let fields else { return forContact(version: version) }
    let kept = ContactAttribute.allCases.filter(fields.contains).map(\.rawValue).joined(separator: ",")
    return "\"v\(version)-\(hash(kept))\""
  }

  static func forListing(generation: UInt64, query: String) -> String {
    "\"g\(generation)-\(hash(query))\""
  }

  /// The tag of the gzip-coded bytes of the representation tagged `tag` (a strong tag): the
  /// same with `-gzip` inside the quotes, so that each encoding has a tag of its own
  /// (RFC 9110 §8.8.3), as strong as the identity's.
  static func gzipped(_ tag: String) -> String {
    String(tag.dropLast()) + "-gzip\""
  }

  /// FNV-1a in base 36: stable across processes and runs, unlike `Hasher`.
  private static func hash(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    return String(hash, radix: 36)
  }

  /// The tags of an `If-Match` / `If-None-Match` value; `nil` for `*`.
  static func parseList(_ header: String) -> [String]? {
    let trimmed = header.trimmingWhitespace()
    if trimmed == "*" { return nil }
    return trimmed.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
  }

  /// `If-None-Match` uses the weak comparison: `W/` prefixes are ignored.
  static func noneMatch(_ header: String, current: String) -> Bool {
    firstMatch(header, among: [current], forStar: current) == nil
  }

  /// The first of `candidates` that an `If-None-Match` lists (weak comparison); `forStar` for
  /// `*`; `nil` when none is listed.
  static func firstMatch(_ header: String, among candidates: [String], forStar: String) -> String? {
    guard let tags = parseList(header) else { return forStar }
    return candidates.first { candidate in tags.contains { weak($0) == weak(candidate) } }
  }

  /// `If-Match` uses the strong comparison: a weak tag never matches.
  static func matches(_ header: String, current: String) -> Bool {
    guard let tags = parseList(header) else { return true }
    return tags.contains { !$0.hasPrefix("W/") && $0 == current }
  }

  private static func weak(_ tag: String) -> Substring {
    tag.hasPrefix("W/") ? tag.dropFirst(2) : Substring(tag)
  }
}
