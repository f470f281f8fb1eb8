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
    writer.append(raw: "{\"time\":")
    writer.append(string: Clock.timestamp())
    writer.append(raw: ",\"level\":")
    writer.append(string: level.rawValue)
    writer.append(raw: ",\"pid\":")
    writer.append(integer: Processes.currentID)
    writer.append(raw: ",\"event\":")
    writer.append(string: event)
    writer.append(raw: ",\"message\":")
    writer.append(string: message)
    for (key, value) in fields {
      guard let value else { continue }
      writer.append(raw: ",\"")
      writer.append(raw: key)
      writer.append(raw: "\":")
      writer.append(string: value)
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
