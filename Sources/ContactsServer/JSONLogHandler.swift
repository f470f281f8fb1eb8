import ContactsCore
public import Logging
import Platform

/// swift-log's handler for the service: one JSON object per line on standard error, which
/// journald, `docker logs` and log shippers take as they are. Never standard output, which
/// systemd may point at the socket. Each line is one `write(2)`, so lines from the workers that
/// share the stream never interleave.
///
///     {"time":"2026-12-01T12:00:00.000Z","level":"info","pid":42,"event":"worker_ready",
///      "message":"worker serving","generation":"7"}
///
/// `event` (a stable snake_case name to alert on) comes from the metadata key of that name;
/// the other metadata follow in key order.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  public var metadataProvider: Logger.MetadataProvider?
  private let write: @Sendable ([UInt8]) -> Void

  /// - Parameter write: where lines go; standard error unless a test captures them.
  public init(write: (@Sendable ([UInt8]) -> Void)? = nil) {
    self.write = write ?? { StandardError.write($0) }
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var merged = metadata
    if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
    if let own = event.metadata { merged.merge(own) { $1 } }
    var writer = JSONWriter(reservingCapacity: 256)
    writer.append(raw: "{")
    writer.append(key: "time", string: Clock.timestamp(), first: true)
    writer.append(key: "level", string: event.level.rawValue)
    writer.append(key: "pid", integer: Processes.currentID)
    writer.append(key: "event", string: merged.removeValue(forKey: "event")?.description ?? "log")
    writer.append(key: "message", string: event.message.description)
    for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
      writer.append(dynamicKey: key, string: value.description)
    }
    writer.append(raw: "}\n")
    write(writer.bytes)
  }
}

extension Logger {
  /// The service's logger: JSON lines on standard error.
  public static func service(label: String = "contacts") -> Logger {
    Logger(label: label) { _ in JSONLogHandler() }
  }

  /// A logger that drops everything (the default for library code given none).
  public static let silent = Logger(label: "contacts.silent") { _ in SwiftLogNoOpLogHandler() }

  /// Logs `message` as the stable `event`, with `metadata`.
  public func log(_ level: Logger.Level, event: String, _ message: String, _ metadata: Logger.Metadata = [:]) {
    var metadata = metadata
    metadata["event"] = .string(event)
    log(level: level, "\(message)", metadata: metadata)
  }
}
