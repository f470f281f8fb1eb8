/// A `GET /contacts` query: filters, free-text search, order, fields and paging (docs/api.md,
/// "Listing, filtering and paging" and "Sorting and fields").
public struct ContactQuery: Equatable, Sendable {
  /// Per attribute, the folded values any one of which must match (phone numbers: digits only).
  public var filters: [ContactAttribute: [String]] = [:]
  /// `q`, folded, as UTF-8.
  public var text: [UInt8]?
  /// The digits of `q`; empty when `q` has none, and then phone numbers never match it.
  public var textDigits: [UInt8] = []
  public var limit: Int?
  public var offset: Int = 0
  /// `sortBy` and `order`; `nil` when neither is given: the listing's own order, and no sort.
  public var order: ContactOrder?
  /// `fields`: the attributes each contact keeps (with its `id`); `nil` for all of them (no
  /// `fields`, `fields=*`, or every attribute listed), the contacts' JSON as it is stored.
  public var fields: Set<ContactAttribute>?
  /// The decoded parameters in order, to build the `next` link from.
  public var parameters: [QueryParameter] = []

  public static let maximumLimit = 1000
  /// The largest `offset` accepted (2³¹ − 1): far beyond any directory, and small enough that
  /// `offset + limit` can never overflow, whatever the platform's `Int`.
  public static let maximumOffset = Int(Int32.max)
  static let reservedNames = ["q", "limit", "offset", "sortBy", "order", "fields"]
  /// Every parameter name accepted, in the order error messages list them.
  public static let allowedNames = ContactAttribute.allCases.map(\.rawValue) + reservedNames

  public init() {}

  /// Parses a raw (still percent-encoded) query string such as `type=Queue&type=User&q=sales`.
  ///
  /// - Throws: `QueryError` naming the offending parameter and what is allowed.
  public static func parse(_ rawQuery: String) throws(QueryError) -> ContactQuery {
    var query = ContactQuery()
    var seenReserved: Set<String> = []
    var sortKeys: [ContactAttribute]?
    var descending: Bool?
    for piece in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
      let parameter = try QueryParameter(encoded: piece)
      query.parameters.append(parameter)
      let (name, value) = (parameter.name, parameter.value)
      try checkPrintable(parameter)
      if reservedNames.contains(name) {
        guard seenReserved.insert(name).inserted else {
          throw QueryError(parameter: name, message: "'\(name)' may be given only once")
        }
      }
      switch name {
      case "sortBy":
        sortKeys = try attributeList(value, parameter: name)
      case "order":
        descending = try isDescending(value)
      case "fields":
        query.fields = try fields(value)
      case "q":
        query.text = Array(TextFolding.fold(value).utf8)
        query.textDigits = Array(TextFolding.digits(of: value).utf8)
      case "limit":
        guard let limit = Int(value), (1...maximumLimit).contains(limit) else {
          throw QueryError(
            parameter: name, message: "'limit' must be a whole number from 1 to \(maximumLimit), not '\(value)'")
        }
        query.limit = limit
      case "offset":
        guard let offset = Int(value), (0...maximumOffset).contains(offset) else {
          throw QueryError(
            parameter: name, message: "'offset' must be a whole number from 0 to \(maximumOffset), not '\(value)'")
        }
        query.offset = offset
      default:
        guard let attribute = ContactAttribute(rawValue: name) else {
          throw QueryError(
            parameter: name,
            message:
              "Unknown query parameter '\(name)'; allowed: \(allowedNames.joined(separator: ", ")) (names are case-sensitive)",
            allowed: allowedNames)
        }
        let folded: String
        switch attribute {
        case .type:
          guard let type = ContactType(caseInsensitive: value) else {
            let allowed = ContactType.allCases.map(\.rawValue)
            throw QueryError(
              parameter: name, message: "Unknown type '\(value)'; allowed: \(allowed.joined(separator: ", "))",
              allowed: allowed)
          }
          folded = TextFolding.fold(type.rawValue)
        case .phoneNumber: folded = TextFolding.digits(of: value)
        default: folded = TextFolding.fold(value)
        }
        query.filters[attribute, default: []].append(folded)
      }
    }
    if sortKeys != nil || descending != nil {
      query.order = ContactOrder(keys: sortKeys ?? ContactOrder.defaultKeys, descending: descending ?? false)
    }
    return query
  }

  /// Parses the query of `GET /contacts/{id}`, which takes `fields` only, at most once.
  ///
  /// - Returns: the attributes to keep, `nil` for all of them.
  /// - Throws: `QueryError` for any other parameter, a repeated or bad `fields`, a malformed
  ///   escape or a control character, as `parse` does.
  public static func parseFields(_ rawQuery: String) throws(QueryError) -> Set<ContactAttribute>? {
    var result: Set<ContactAttribute>?
    var seen = false
    for piece in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
      let parameter = try QueryParameter(encoded: piece)
      try checkPrintable(parameter)
      guard parameter.name == "fields" else {
        throw QueryError(
          parameter: parameter.name,
          message:
            "Unknown query parameter '\(parameter.name)'; a single contact takes only 'fields' (names are case-sensitive)",
          allowed: ["fields"])
      }
      guard !seen else { throw QueryError(parameter: "fields", message: "'fields' may be given only once") }
      seen = true
      result = try fields(parameter.value)
    }
    return result
  }

  /// Every attribute name `sortBy` and `fields` take, in the order error messages list them.
  static let attributeNames = ContactAttribute.allCases.map(\.rawValue)

  private static func checkPrintable(_ parameter: QueryParameter) throws(QueryError) {
    if let control = TextRules.firstControlCharacter(in: parameter.value) {
      throw QueryError(
        parameter: parameter.name,
        message: "'\(parameter.name)' contains the control character \(control); query values must be printable text")
    }
  }

  /// A comma-separated list of attribute names, each exactly as the contact object spells it.
  private static func attributeList(_ value: String, parameter: String, allowed: [String] = attributeNames)
    throws(QueryError) -> [ContactAttribute]
  {
    var attributes: [ContactAttribute] = []
    for name in value.split(separator: ",", omittingEmptySubsequences: false) {
      guard let attribute = ContactAttribute(rawValue: String(name)) else {
        let list = attributeNames.joined(separator: ", ")
        let what = name.isEmpty ? "An empty attribute name" : "Unknown attribute '\(name)'"
        let all = allowed.contains("*") ? "* (every attribute), or " : ""
        throw QueryError(
          parameter: parameter,
          message:
            "\(what) in '\(parameter)'; allowed: \(all)a comma-separated list of \(list) (names are case-sensitive)",
          allowed: allowed)
      }
      attributes.append(attribute)
    }
    return attributes
  }

  /// `order`: `Ascending` or `Descending` in any case, or `asc` / `desc`.
  private static func isDescending(_ value: String) throws(QueryError) -> Bool {
    switch value.lowercased() {
    case "ascending", "asc": return false
    case "descending", "desc": return true
    default:
      throw QueryError(
        parameter: "order",
        message: "Unknown order '\(value)'; allowed: Ascending, Descending (any case; asc and desc too)",
        allowed: ["Ascending", "Descending"])
    }
  }

  /// `fields`: `*` (all), or attribute names; `nil` when that is every attribute.
  private static func fields(_ value: String) throws(QueryError) -> Set<ContactAttribute>? {
    guard value != "*" else { return nil }
    let fields = Set(try attributeList(value, parameter: "fields", allowed: ["*"] + attributeNames))
    return fields.count == ContactAttribute.allCases.count ? nil : fields
  }

  /// Whether `entry` passes every filter and `q`.
  public func matches(_ entry: IndexedContact) -> Bool {
    for (attribute, values) in filters where !entry.hasFolded(attribute, amongst: values) { return false }
    if let text, !text.isEmpty {
      let inText = entry.searchableTextContains(text)
      let inDigits = !textDigits.isEmpty && entry.phoneDigitsContain(textDigits)
      if !inText && !inDigits { return false }
    }
    return true
  }

  /// Whether the query filters at all (the unfiltered, unpaged listing is cached whole).
  public var isUnfiltered: Bool { filters.isEmpty && text == nil }

  /// The query string of the page after this one, or `nil` when this page is the last.
  public func nextPageQuery(total: Int) -> String? {
    guard let end = pageEnd, end < total else { return nil }
    let kept = parameters.filter { $0.name != "offset" }.map(\.encoded)
    return (kept + ["offset=\(end)"]).joined(separator: "&")
  }

  /// The page of `count` matches this query selects: `offset` and `limit` clamped to it.
  /// Never traps, whatever the values (they are client-controlled).
  public func pageRange(of count: Int) -> Range<Int> {
    let start = min(max(offset, 0), count)
    guard let limit else { return start..<count }
    let (end, overflow) = start.addingReportingOverflow(max(limit, 0))
    return start..<(overflow ? count : min(end, count))
  }

  /// `offset + limit`, or `nil` without a limit; saturates rather than overflowing.
  private var pageEnd: Int? {
    guard let limit else { return nil }
    let (end, overflow) = offset.addingReportingOverflow(limit)
    return overflow ? Int.max : end
  }
}

/// One `name=value` pair of a query string, decoded.
public struct QueryParameter: Equatable, Sendable {
  public var name: String
  public var value: String

  /// Decodes `name=value` (`+` is a space, `%XX` a byte, the result must be UTF-8).
  public init(encoded piece: Substring) throws(QueryError) {
    let equals = piece.firstIndex(of: "=")
    let rawName = equals.map { piece[..<$0] } ?? piece
    let rawValue = equals.map { piece[piece.index(after: $0)...] } ?? ""
    name = try Self.decode(rawName, parameter: String(rawName))
    value = try Self.decode(rawValue, parameter: name)
  }

  /// Re-encoded, for links.
  var encoded: String { "\(Self.encode(name))=\(Self.encode(value))" }

  static func decode(_ text: Substring, parameter: String) throws(QueryError) -> String {
    guard let decoded = PercentEncoding.decode(text, plusIsSpace: true) else {
      throw QueryError(parameter: parameter, message: "'\(parameter)' has a malformed %-escape or is not UTF-8")
    }
    return decoded
  }

  static func encode(_ text: String) -> String { PercentEncoding.encode(text) }
}

/// RFC 3986 percent-encoding, as query strings and path segments use it.
public enum PercentEncoding {
  /// Decodes `%XX` escapes (and `+` as a space when `plusIsSpace`); `nil` for a malformed
  /// escape or a result that is not UTF-8.
  public static func decode(_ text: Substring, plusIsSpace: Bool) -> String? {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8).makeIterator()
    while let byte = iterator.next() {
      switch byte {
      case UInt8(ascii: "+") where plusIsSpace: bytes.append(0x20)
      case UInt8(ascii: "%"):
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
          return nil
        }
        bytes.append(high << 4 | low)
      default: bytes.append(byte)
      }
    }
    return String(validating: bytes, as: UTF8.self)
  }

  /// Encodes every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`).
  public static func encode(_ text: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
        UInt8(ascii: "~"):
        bytes.append(byte)
      default:
        bytes.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}

/// A query string the listing cannot answer.
public struct QueryError: Error, Equatable, Sendable {
  public var parameter: String
  public var message: String
  /// What would have been accepted, when that is a short list.
  public var allowed: [String]
  public init(parameter: String, message: String, allowed: [String] = []) {
    self.parameter = parameter
    self.message = message
    self.allowed = allowed
  }
}
