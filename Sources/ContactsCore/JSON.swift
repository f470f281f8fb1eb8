/// A parsed JSON value. Objects keep their members in order, duplicates included, so that the
/// caller can name a field that was sent twice.
public indirect enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  /// A number, as written (this service stores none; it only needs to name the type).
  case number(String)
  case string(String)
  case array([JSONValue])
  case object([JSONMember])

  /// A short name of the value's JSON type, for messages: "a string", "a number", …
  public var typeDescription: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .number: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
  }

  public var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  /// The first member named `key`, for objects.
  public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.key == key }?.value
  }
}

/// One `"key": value` pair of an object.
public struct JSONMember: Equatable, Sendable {
  public var key: String
  public var value: JSONValue
  public init(key: String, value: JSONValue) {
    self.key = key
    self.value = value
  }
}

/// Invalid JSON: where it went wrong and what was expected there, in words a person can act on.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
  /// 1-based line and column of the offending byte.
  public var line: Int
  public var column: Int
  /// 0-based byte offset of the offending byte.
  public var offset: Int
  /// What was expected and what was found, without the position.
  public var reason: String

  public var description: String { "Invalid JSON at line \(line), column \(column): \(reason)" }
}
