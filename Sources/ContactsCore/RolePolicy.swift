/// What a caller may do with contacts.
public struct Permissions: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// `GET` and `HEAD`.
  public static let read = Permissions(rawValue: 1)
  /// `POST`, `PUT`, `DELETE` of custom contacts.
  public static let write = Permissions(rawValue: 2)

  /// `"read, write"`, `"read"` or `""`: the form of the `X-Contacts-Permissions` header.
  public var description: String {
    [(Permissions.read, "read"), (.write, "write")].filter { contains($0.0) }.map(\.1).joined(separator: ", ")
  }

  init?(name: String) {
    switch name.lowercased() {
    case "read": self = .read
    case "write": self = .write
    default: return nil
    }
  }
}

/// A caller as nginx identified them.
public struct Identity: Equatable, Sendable {
  public var user: String
  public var roles: [String]
  public init(user: String, roles: [String]) {
    self.user = user
    self.roles = roles
  }
}

/// Maps role names to permissions. Names are compared case-insensitively with surrounding
/// spaces ignored; a role the policy does not name grants nothing.
public struct RolePolicy: Equatable, Sendable, CustomStringConvertible {
  private var permissionsByRole: [String: Permissions]

  /// `role (read, write); role (read)`, sorted by role: for `config check`.
  public var description: String {
    permissionsByRole.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: "; ")
  }

  /// docs/api.md's defaults: `Contact Center Admin` reads and writes, `Agent` reads.
  public static let `default` = RolePolicy(roles: [
    "Contact Center Admin": [.read, .write],
    "Agent": [.read],
  ])

  public init(roles: [String: Permissions]) {
    permissionsByRole = Dictionary(
      roles.map { (Self.normalize($0.key), $0.value) }, uniquingKeysWith: { $0.union($1) })
  }

  /// Parses the `roles` object of the configuration file: `{"Role name": ["read", "write"], …}`.
  ///
  /// - Throws: `ConfigurationError` naming the offending role or permission.
  public init(json value: JSONValue) throws(ConfigurationError) {
    guard case .object(let members) = value else {
      throw ConfigurationError("\"roles\" must be an object mapping role names to lists of permissions")
    }
    var roles: [String: Permissions] = [:]
    for member in members {
      let role = Self.normalize(member.key)
      guard !role.isEmpty else { throw ConfigurationError("\"roles\" has an empty role name") }
      guard roles[role] == nil else { throw ConfigurationError("role \"\(member.key)\" is listed twice") }
      guard case .array(let names) = member.value else {
        throw ConfigurationError("role \"\(member.key)\" must map to a list such as [\"read\", \"write\"]")
      }
      var permissions: Permissions = []
      for name in names {
        guard let text = name.stringValue, let permission = Permissions(name: text) else {
          throw ConfigurationError("role \"\(member.key)\": permissions are \"read\" and \"write\"")
        }
        permissions.insert(permission)
      }
      roles[role] = permissions
    }
    permissionsByRole = roles
  }

  /// The union of what each of `roles` grants.
  public func permissions(for roles: [String]) -> Permissions {
    roles.reduce(into: []) { $0.formUnion(permissionsByRole[Self.normalize($1)] ?? []) }
  }

  /// The roles of a comma-separated header value, trimmed, empties dropped.
  public static func roles(fromHeader value: String) -> [String] {
    value.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
  }

  private static func normalize(_ role: String) -> String { role.trimmingWhitespace().lowercased() }
}

/// A configuration file or value that cannot be used: the service refuses to start.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}
