import ContactsCore

/// The path a request is routed on, checked against the path nginx routed it on.
///
/// nginx chooses a location from the *normalized* path (percent-decoded, `.` and `..` segments
/// resolved, `//` merged) and passes it as `DOCUMENT_URI`; the raw `REQUEST_URI` is what the
/// client sent. If the two could differ, nginx might authenticate one resource while the
/// responder served another: `/contacts&x=/../_contacts/ping` is matched by nginx as the
/// unauthenticated ping page, but read raw it is the collection. So a raw path is accepted only
/// when nothing in it is normalized away, and, when nginx sent the path it matched, only when
/// the raw path decodes to exactly that path. Anything else is a 400 before any other check.
public enum RequestTarget {
  /// Why a raw path was refused, for the error message.
  public enum Problem: Equatable, Sendable {
    case notAbsolute
    case dotSegment
    case emptySegment
    case encodedSeparator
    case malformedEscape
    case differsFromMatchedPath(String)
  }

  /// Checks `rawPath` (percent-encoded, without the query) against `matchedPath` (nginx's
  /// `DOCUMENT_URI`, decoded and normalized; `nil` when nginx did not send it).
  ///
  /// - Returns: `nil` when the raw path is safe to route on, else what is wrong with it.
  public static func problem(rawPath: String, matchedPath: String?) -> Problem? {
    guard rawPath.hasPrefix("/") else { return .notAbsolute }
    let segments = rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    for (index, segment) in segments.enumerated() {
      // A trailing slash leaves one empty last segment; `//` anywhere else is merged by nginx.
      if segment.isEmpty {
        if index == segments.count - 1 { continue }
        return .emptySegment
      }
      guard let decoded = PercentEncoding.decode(segment, plusIsSpace: false) else {
        return .malformedEscape
      }
      if decoded == "." || decoded == ".." { return .dotSegment }
      if decoded.contains("/") || decoded.contains("\\") { return .encodedSeparator }
    }
    if let matchedPath {
      guard let decoded = PercentEncoding.decode(Substring(rawPath), plusIsSpace: false) else {
        return .malformedEscape
      }
      if decoded != matchedPath { return .differsFromMatchedPath(matchedPath) }
    }
    return nil
  }
}

extension RequestTarget.Problem: CustomStringConvertible {
  public var description: String {
    switch self {
    case .notAbsolute: "the path does not start with '/'"
    case .dotSegment: "the path has a '.' or '..' segment"
    case .emptySegment: "the path has an empty segment ('//')"
    case .encodedSeparator: "the path has an encoded '/' or a '\\'"
    case .malformedEscape: "the path has a malformed %-escape or is not UTF-8"
    case .differsFromMatchedPath: "the path does not decode to the path the proxy matched"
    }
  }
}
