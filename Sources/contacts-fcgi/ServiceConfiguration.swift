import ArgumentParser
import ContactsCore
import Platform

/// Everything `serve` and its workers run with: the configuration file's values, each of which
/// a flag can override.
///
///     {"dataDirectory": "/var/lib/contacts", "socket": "/run/contacts/contacts.sock",
///      "socketGroup": "www-data", "workers": 2, "maxBodyBytes": 65536, "maxRequests": 0,
///      "requestTimeoutSeconds": 30, "slowRequestMilliseconds": 1000,
///      "roles": {"Contact Center Admin": ["read", "write"], "Agent": ["read"]}}
struct ServiceConfiguration: Equatable {
  var dataDirectory = "/var/lib/contacts"
  var socket: String?
  var socketGroup: String?
  var workers = 2
  var maxBodyBytes = 65536
  var maxRequests = 0
  var requestTimeoutSeconds = 30
  var slowRequestMilliseconds = 1000
  var journalCompactionBytes = 1 << 20
  var listingCacheBytes = 64 << 20
  var accessLog = false
  var roles = RolePolicy.default

  static let keys = [
    "dataDirectory", "socket", "socketGroup", "workers", "maxBodyBytes", "maxRequests", "requestTimeoutSeconds",
    "slowRequestMilliseconds", "journalCompactionBytes", "listingCacheBytes", "accessLog", "roles",
  ]

  /// Reads a configuration file; every key is optional, an unknown key is an error.
  ///
  /// - Throws: `ConfigurationError` naming the file and what is wrong; a missing or malformed
  ///   file is never silently replaced by defaults.
  static func load(path: String) throws(ConfigurationError) -> ServiceConfiguration {
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
      func string() throws(ConfigurationError) -> String {
        guard let text = member.value.stringValue, !text.isEmpty else {
          throw ConfigurationError("\(path): \"\(member.key)\" must be a non-empty string")
        }
        return text
      }
      func integer(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard case .number(let text) = member.value, let number = Int(text), range.contains(number) else {
          throw ConfigurationError(
            "\(path): \"\(member.key)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
      }
      switch member.key {
      case "dataDirectory": configuration.dataDirectory = try string()
      case "socket": configuration.socket = try string()
      case "socketGroup": configuration.socketGroup = try string()
      case "workers": configuration.workers = try integer(1...256)
      case "maxBodyBytes": configuration.maxBodyBytes = try integer(1024...(1 << 24))
      case "maxRequests": configuration.maxRequests = try integer(0...Int(Int32.max))
      case "requestTimeoutSeconds": configuration.requestTimeoutSeconds = try integer(1...3600)
      case "slowRequestMilliseconds": configuration.slowRequestMilliseconds = try integer(1...3_600_000)
      case "journalCompactionBytes": configuration.journalCompactionBytes = try integer(1024...(1 << 30))
      case "listingCacheBytes": configuration.listingCacheBytes = try integer(0...(1 << 40))
      case "accessLog":
        guard case .bool(let enabled) = member.value else {
          throw ConfigurationError("\(path): \"accessLog\" must be true or false")
        }
        configuration.accessLog = enabled
      case "roles":
        do { configuration.roles = try RolePolicy(json: member.value) } catch {
          throw ConfigurationError("\(path): \(error)")
        }
      default:
        throw ConfigurationError("\(path): unknown key \"\(member.key)\"; known: \(keys.joined(separator: ", "))")
      }
    }
    return configuration
  }
}

/// The options `serve` and `worker` share: a configuration file, and a flag for each setting.
struct ServiceOptions: ParsableArguments {
  @Option(help: "A JSON configuration file (see README, Configuration).")
  var config: String?

  @Option(help: "The data directory. [/var/lib/contacts]")
  var dataDir: String?

  @Option(help: "Largest request body in bytes; larger ones answer 413. [65536]")
  var maxBodyBytes: Int?

  @Option(help: "A worker exits and is replaced after this many requests; 0 never. [0]")
  var maxRequests: Int?

  @Option(help: "A request running longer than this is ended: its worker is killed and replaced. [30]")
  var requestTimeout: Int?

  @Option(help: "Requests slower than this are logged as slow, in milliseconds. [1000]")
  var slowRequestMs: Int?

  @Option(
    help: "Compact the journal into a new snapshot once it is larger than this and a quarter of the snapshot. [1048576]"
  )
  var journalCompactionBytes: Int?

  @Option(help: "Most bytes of serialized listings each worker keeps; least recently used go first. [67108864]")
  var listingCacheBytes: Int?

  @Flag(help: "Log every request as a JSON line on stderr (nginx's access log usually suffices).")
  var accessLog = false

  func resolved() throws -> ServiceConfiguration {
    var configuration =
      try config.map { path throws(ConfigurationError) in try ServiceConfiguration.load(path: path) }
      ?? ServiceConfiguration()
    if let dataDir { configuration.dataDirectory = dataDir }
    if let maxBodyBytes { configuration.maxBodyBytes = maxBodyBytes }
    if let maxRequests { configuration.maxRequests = maxRequests }
    if let requestTimeout { configuration.requestTimeoutSeconds = requestTimeout }
    if let slowRequestMs { configuration.slowRequestMilliseconds = slowRequestMs }
    if let journalCompactionBytes { configuration.journalCompactionBytes = journalCompactionBytes }
    if let listingCacheBytes {
      guard (0...(1 << 40)).contains(listingCacheBytes) else {
        throw ValidationError("--listing-cache-bytes must be from 0 to \(1 << 40)")
      }
      configuration.listingCacheBytes = listingCacheBytes
    }
    if accessLog { configuration.accessLog = true }
    configuration.dataDirectory = FileSystem.absolute(configuration.dataDirectory)
    return configuration
  }

  /// The options for the worker processes the supervisor starts: the configuration file and
  /// the flags given on the command line, not resolved values, so that a worker started after
  /// SIGHUP reads the configuration file as it is then (roles, limits, timeouts, logging).
  func workerArguments(dataDirectory: String) -> [String] {
    var arguments: [String] = []
    if let config { arguments += ["--config", FileSystem.absolute(config)] }
    // The data directory is fixed for the supervisor's lifetime: resolved once, passed absolute.
    arguments += ["--data-dir", dataDirectory]
    if let maxBodyBytes { arguments += ["--max-body-bytes", String(maxBodyBytes)] }
    if let maxRequests { arguments += ["--max-requests", String(maxRequests)] }
    if let requestTimeout { arguments += ["--request-timeout", String(requestTimeout)] }
    if let slowRequestMs { arguments += ["--slow-request-ms", String(slowRequestMs)] }
    if let journalCompactionBytes { arguments += ["--journal-compaction-bytes", String(journalCompactionBytes)] }
    if let listingCacheBytes { arguments += ["--listing-cache-bytes", String(listingCacheBytes)] }
    if accessLog { arguments.append("--access-log") }
    return arguments
  }
}

/// `contacts-fcgi config check`: validates a configuration file and prints what it resolves to.
struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config", abstract: "Configuration file tools.", subcommands: [Validate.self])

  struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "check", abstract: "Validate a configuration file; exit 1 with the reason if it is not valid.")

    @Argument(help: "The configuration file.")
    var file: String

    func run() throws {
      do {
        let configuration = try ServiceConfiguration.load(path: file)
        StandardOutput.write(
          """
          \(file): valid
            dataDirectory \(configuration.dataDirectory)
            socket \(configuration.socket ?? "(inherited on descriptor 0, or --socket)")
            workers \(configuration.workers), maxBodyBytes \(configuration.maxBodyBytes), maxRequests \(configuration.maxRequests)
            requestTimeoutSeconds \(configuration.requestTimeoutSeconds), slowRequestMilliseconds \(configuration.slowRequestMilliseconds)

          """)
      } catch {
        StandardError.write(Array("contacts-fcgi: \(error)\n".utf8))
        throw ExitCode.failure
      }
    }
  }
}
