import ContactsCore
import Platform

/// One JSON object per line on standard error: what journald, `docker logs` and log shippers
/// take as they are. Never standard output, which systemd may point at the socket.
enum Log {
  enum Level: String { case info, warning, error }

  static func write(
    _ level: Level, _ event: String, _ message: String, _ fields: KeyValuePairs<StaticString, String?> = [:]
  ) {
    var writer = JSONWriter(reservingCapacity: 256)
    writer.append(raw: "{")
    writer.append(key: "time", string: Clock.timestamp(), first: true)
    writer.append(key: "level", string: level.rawValue)
    writer.append(key: "pid", integer: Processes.currentID)
    writer.append(key: "event", string: event)
    writer.append(key: "message", string: message)
    for (key, value) in fields {
      guard let value else { continue }
      writer.append(key: key, string: value)
    }
    writer.append(raw: "}\n")
    StandardError.write(writer.bytes)
  }

  static func info(_ event: String, _ message: String, _ fields: KeyValuePairs<StaticString, String?> = [:]) {
    write(.info, event, message, fields)
  }
  static func warning(_ event: String, _ message: String, _ fields: KeyValuePairs<StaticString, String?> = [:]) {
    write(.warning, event, message, fields)
  }
  static func error(_ event: String, _ message: String, _ fields: KeyValuePairs<StaticString, String?> = [:]) {
    write(.error, event, message, fields)
  }
}
