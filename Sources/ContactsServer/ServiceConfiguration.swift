public import ContactsCore
import Platform

/// Everything `serve` and its workers run with. Each field's default is written here once;
/// `ServiceConfiguration.settings` says how the configuration file and the command line set it.
///
///     {"dataDirectory": "/var/lib/contacts", "socket": "/run/contacts/contacts.sock",
///      "socketGroup": "www-data", "workers": 2, "maxBodyBytes": 65536, "maxRequests": 0,
///      "requestTimeoutSeconds": 30, "slowRequestMilliseconds": 1000,
///      "roles": {"Contact Center Admin": ["read", "write"], "Agent": ["read"]}}
public struct ServiceConfiguration: Equatable, Sendable {
  public var dataDirectory = "/var/lib/contacts"
  /// A PostgreSQL URL: when set, contacts live there instead of in `dataDirectory`.
  public var database: String?
  public var socket: String?
  public var socketGroup: String?
  public var workers = 2
  public var maxBodyBytes = 65536
  public var maxRequests = 0
  public var requestTimeoutSeconds = 30
  public var slowRequestMilliseconds = 1000
  public var journalCompactionBytes = 1 << 20
  public var listingCacheBytes = 64 << 20
  /// How many of the latest changes the change feed keeps at least; older cursors answer 410.
  public var changeHistory = 10_000
  /// nginx's events publisher socket (snippets/contacts-events-publisher.conf): when set, the
  /// supervisor runs a publisher that pushes `event: changes` on every commit.
  public var eventsSocket: String?
  public var accessLog = false
  public var roles = RolePolicy.default

  public init() {}

  /// Reads a configuration file; every key is optional, an unknown key is an error.
  ///
  /// - Throws: `ConfigurationError` naming the file and what is wrong; a missing or malformed
  ///   file is never silently replaced by defaults.
  public static func load(path: String) throws(ConfigurationError) -> ServiceConfiguration {
    let bytes: [UInt8]?
    do { bytes = try FileSystem.contents(of: path) } catch {
      throw ConfigurationError("\(path): \(error)")
    }
    guard let bytes else { throw ConfigurationError("\(path): no such file") }
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch { throw ConfigurationError("\(path): \(error)") }
    guard case .object(let members) = value else { throw ConfigurationError("\(path): must hold a JSON object") }
    var configuration = ServiceConfiguration()
    for member in members {
      guard let setting = settings.first(where: { $0.key == member.key }) else {
        let known = settings.map(\.key).joined(separator: ", ")
        throw ConfigurationError("\(path): unknown key \"\(member.key)\"; known: \(known)")
      }
      do {
        try configuration.apply(setting, .json(member.value))
      } catch {
        throw ConfigurationError("\(path): \(error.message)")
      }
    }
    return configuration
  }

  /// Applies command-line setting flags (`--max-body-bytes 1024`, `--max-body-bytes=1024`,
  /// `--access-log`) over this configuration, validated exactly as the file's values are.
  ///
  /// - Throws: `ConfigurationError` for an unknown flag, a missing value or one out of range.
  public mutating func applyFlags(_ arguments: [String]) throws(ConfigurationError) {
    var remaining = arguments[...]
    while let argument = remaining.popFirst() {
      guard argument.hasPrefix("--") else { throw ConfigurationError("unexpected argument '\(argument)'") }
      let body = argument.dropFirst(2)
      let name = body.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
      guard let setting = Self.settings.first(where: { $0.flag == name }) else {
        let known = Self.settings.compactMap { $0.flag.map { "--\($0)" } }.joined(separator: ", ")
        throw ConfigurationError("unknown option '--\(name)'; settings: \(known)")
      }
      if case .flag = setting.value {
        try apply(setting, .flag)
        continue
      }
      let text: String
      if let equals = body.firstIndex(of: "=") {
        text = String(body[body.index(after: equals)...])
      } else if let next = remaining.popFirst() {
        text = next
      } else {
        throw ConfigurationError("--\(name) needs a value")
      }
      try apply(setting, .text(text))
    }
  }

  /// What a setting is given as: a value from the file, the text after a flag, or a bare flag.
  enum Input {
    case json(JSONValue)
    case text(String)
    case flag
  }

  /// The one place a setting's value is checked and stored, from the file or a flag alike.
  mutating func apply(_ setting: Setting, _ input: Input) throws(ConfigurationError) {
    let name = setting.key
    switch setting.value {
    case .integer(let keyPath, let range):
      let number: Int?
      switch input {
      case .json(.number(let text)), .text(let text): number = Int(text)
      default: number = nil
      }
      guard let number, range.contains(number) else {
        throw ConfigurationError(
          "\"\(name)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
      }
      self[keyPath: keyPath] = number
    case .text(let keyPath):
      self[keyPath: keyPath] = try Self.nonEmptyText(input, name)
    case .optionalText(let keyPath):
      self[keyPath: keyPath] = try Self.nonEmptyText(input, name)
    case .flag(let keyPath):
      switch input {
      case .flag: self[keyPath: keyPath] = true
      case .json(.bool(let enabled)): self[keyPath: keyPath] = enabled
      default: throw ConfigurationError("\"\(name)\" must be true or false")
      }
    case .roles:
      guard case .json(let value) = input else { throw ConfigurationError("\"roles\" is set in the file only") }
      roles = try RolePolicy(json: value)
    }
  }

  private static func nonEmptyText(_ input: Input, _ name: String) throws(ConfigurationError) -> String {
    switch input {
    case .json(.string(let text)) where !text.isEmpty, .text(let text) where !text.isEmpty: return text
    default: throw ConfigurationError("\"\(name)\" must be a non-empty string")
    }
  }

  /// One line per setting and its value, for `config check`.
  public var summary: String {
    Self.settings.map { setting in
      let value: String
      switch setting.value {
      case .integer(let keyPath, _): value = String(self[keyPath: keyPath])
      case .text(let keyPath): value = self[keyPath: keyPath]
      case .optionalText(let keyPath):
        // A database URL may hold a password: never print it.
        value = self[keyPath: keyPath].map { setting.key == "database" ? Self.redacted($0) : $0 } ?? "(not set)"
      case .flag(let keyPath): value = String(self[keyPath: keyPath])
      case .roles: value = roles.description
      }
      return "  \(setting.key) \(value)"
    }.joined(separator: "\n")
  }
}

/// One setting: its configuration-file key, its flag, what it holds, whether a SIGHUP reload
/// applies it, and a line of help. The table below is the only list of them.
public struct Setting: Sendable {
  enum Value {
    case integer(WritableKeyPath<ServiceConfiguration, Int>, ClosedRange<Int>)
    case text(WritableKeyPath<ServiceConfiguration, String>)
    case optionalText(WritableKeyPath<ServiceConfiguration, String?>)
    case flag(WritableKeyPath<ServiceConfiguration, Bool>)
    case roles
  }

  /// The key in `contacts.json`.
  public let key: String
  /// The command-line flag without `--`; `nil` for settings only the file can hold.
  public let flag: String?
  /// Whether workers started by a SIGHUP reload pick up a new value (the supervisor's own
  /// settings, such as the socket and the pool size, need a restart).
  public let appliesOnReload: Bool
  public let help: String
  // Key paths are immutable values; the compiler cannot see that they are Sendable.
  nonisolated(unsafe) let value: Value
}

extension ServiceConfiguration {
  /// Every setting, in the order help and `config check` list them.
  public static var settings: [Setting] {
    [
      Setting(
        key: "dataDirectory", flag: "data-dir", appliesOnReload: false,
        help: "The data directory.", value: .text(\.dataDirectory)),
      Setting(
        key: "database", flag: "database-url", appliesOnReload: false,
        help:
          "A PostgreSQL URL (postgresql://user:pass@host:port/db); contacts live there instead of the data directory.",
        value: .optionalText(\.database)),
      Setting(
        key: "socket", flag: "socket", appliesOnReload: false,
        help: "The unix socket to create (mode 0660); without it, descriptor 0 must be a listening socket.",
        value: .optionalText(\.socket)),
      Setting(
        key: "socketGroup", flag: "socket-group", appliesOnReload: false,
        help: "Group to give the socket to (nginx's group, e.g. www-data).", value: .optionalText(\.socketGroup)),
      Setting(
        key: "workers", flag: "workers", appliesOnReload: false, help: "Number of worker processes.",
        value: .integer(\.workers, 1...256)),
      Setting(
        key: "maxBodyBytes", flag: "max-body-bytes", appliesOnReload: true,
        help: "Largest request body in bytes; larger ones answer 413.",
        value: .integer(\.maxBodyBytes, 1024...(1 << 24))
      ),
      Setting(
        key: "maxRequests", flag: "max-requests", appliesOnReload: true,
        help: "A worker exits and is replaced after this many requests; 0 never.",
        value: .integer(\.maxRequests, 0...Int(Int32.max))),
      Setting(
        key: "requestTimeoutSeconds", flag: "request-timeout", appliesOnReload: false,
        help: "A request running longer than this is ended: its worker is killed and replaced.",
        value: .integer(\.requestTimeoutSeconds, 1...3600)),
      Setting(
        key: "slowRequestMilliseconds", flag: "slow-request-ms", appliesOnReload: true,
        help: "Requests slower than this are logged as slow.", value: .integer(\.slowRequestMilliseconds, 1...3_600_000)
      ),
      Setting(
        key: "journalCompactionBytes", flag: "journal-compaction-bytes", appliesOnReload: true,
        help: "Compact the journal into a new snapshot once it is larger than this and a quarter of the snapshot.",
        value: .integer(\.journalCompactionBytes, 1024...(1 << 30))),
      Setting(
        key: "listingCacheBytes", flag: "listing-cache-bytes", appliesOnReload: true,
        help: "Most bytes of serialized listings each worker keeps; the least recently used go first.",
        value: .integer(\.listingCacheBytes, 0...(1 << 40))),
      Setting(
        key: "changeHistory", flag: "change-history", appliesOnReload: true,
        help: "How many of the latest changes the change feed keeps at least; older cursors answer 410.",
        value: .integer(\.changeHistory, 100...10_000_000)),
      Setting(
        key: "eventsSocket", flag: "events-socket", appliesOnReload: false,
        help: "nginx's events publisher socket (contacts-events-publisher.conf); set it to push events.",
        value: .optionalText(\.eventsSocket)),
      Setting(
        key: "accessLog", flag: "access-log", appliesOnReload: true,
        help: "Log every request as a JSON line on stderr (nginx's access log usually suffices).",
        value: .flag(\.accessLog)),
      Setting(
        key: "roles", flag: nil, appliesOnReload: true,
        help: "Role names → permissions: {\"Contact Center Admin\": [\"read\", \"write\"], \"Agent\": [\"read\"]}.",
        value: .roles),
    ]
  }

  /// The settings as help text: flag, key, default, range, reload.
  public static var settingsHelp: String {
    let defaults = ServiceConfiguration()
    return settings.map { setting in
      var line = setting.flag.map { "--\($0)" } ?? "(file only)"
      line += "  [\(setting.key)"
      switch setting.value {
      case .integer(let keyPath, let range):
        line += " = \(defaults[keyPath: keyPath]), \(range.lowerBound)…\(range.upperBound)"
      case .text(let keyPath): line += " = \(defaults[keyPath: keyPath])"
      case .flag, .optionalText, .roles: break
      }
      line += setting.appliesOnReload ? "; SIGHUP applies it]" : "; needs a restart]"
      return "\(line)\n    \(setting.help)"
    }.joined(separator: "\n")
  }
}
