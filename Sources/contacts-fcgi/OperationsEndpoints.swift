import ContactsCore
import FastCGI
import Platform

/// `/_contacts/ping` and `/_contacts/status`: answered by the worker before the API, for
/// monitoring (nginx lets only local callers reach them). The status page reads the scoreboard
/// every worker of the pool writes to, as php-fpm's does.
struct OperationsEndpoints {
  static let pingPath = "/_contacts/ping"
  static let statusPath = "/_contacts/status"

  let scoreboard: Scoreboard?
  let slot: Int?
  let poolSize: Int
  let configuration: ServiceConfiguration

  /// The response for an operations path, or `nil` for every other path.
  func respond(to path: String, generation: UInt64) -> FastCGIResponse? {
    switch path {
    case Self.pingPath:
      return FastCGIResponse(
        status: 200, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
        body: Array("pong\n".utf8))
    case Self.statusPath:
      return FastCGIResponse(
        status: 200,
        headers: [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")],
        body: status(generation: generation))
    default:
      return nil
    }
  }

  private func status(generation: UInt64) -> [UInt8] {
    var slots: [Scoreboard.Slot] = []
    if let scoreboard {
      slots = (0..<scoreboard.slotCount).map(scoreboard.slot).filter { $0.state != .free }
    }
    let now = Clock.monotonicNanoseconds()
    let active = slots.filter { $0.state == .busy }.count
    let startedAt = scoreboard?.startedAt ?? Clock.unixSeconds()
    var writer = JSONWriter(reservingCapacity: 1024)
    writer.append(raw: "{\"processManager\":\"static\",\"startedAt\":")
    writer.append(integer: startedAt)
    writer.append(raw: ",\"uptimeSeconds\":")
    writer.append(integer: Clock.unixSeconds() - startedAt)
    writer.append(raw: ",\"workers\":{\"configured\":")
    writer.append(integer: poolSize)
    writer.append(raw: ",\"total\":")
    writer.append(integer: slots.count)
    writer.append(raw: ",\"active\":")
    writer.append(integer: active)
    writer.append(raw: ",\"idle\":")
    writer.append(integer: slots.count - active)
    writer.append(raw: "},\"acceptedRequests\":")
    writer.append(integer: (scoreboard?.retiredRequests ?? 0) + slots.reduce(0) { $0 + $1.requests })
    writer.append(raw: ",\"slowRequests\":")
    writer.append(integer: (scoreboard?.retiredSlowRequests ?? 0) + slots.reduce(0) { $0 + $1.slowRequests })
    writer.append(raw: ",\"restarts\":")
    writer.append(integer: scoreboard?.restarts ?? 0)
    writer.append(raw: ",\"requestTimeouts\":")
    writer.append(integer: scoreboard?.timeouts ?? 0)
    writer.append(raw: ",\"maxRequests\":")
    writer.append(integer: configuration.maxRequests)
    writer.append(raw: ",\"requestTimeoutSeconds\":")
    writer.append(integer: configuration.requestTimeoutSeconds)
    writer.append(raw: ",\"slowRequestMilliseconds\":")
    writer.append(integer: configuration.slowRequestMilliseconds)
    writer.append(raw: ",\"dataGeneration\":")
    writer.append(integer: generation)
    writer.append(raw: ",\"perWorker\":[")
    for (index, slot) in slots.sorted(by: { $0.pid < $1.pid }).enumerated() {
      if index > 0 { writer.append(raw: ",") }
      writer.append(raw: "{\"pid\":")
      writer.append(integer: slot.pid)
      writer.append(raw: ",\"state\":")
      writer.append(string: slot.state == .busy ? "busy" : "idle")
      writer.append(raw: ",\"requests\":")
      writer.append(integer: slot.requests)
      writer.append(raw: ",\"slowRequests\":")
      writer.append(integer: slot.slowRequests)
      writer.append(raw: ",\"startedAt\":")
      writer.append(integer: slot.startedAt)
      writer.append(raw: ",\"dataGeneration\":")
      writer.append(integer: slot.generation)
      if slot.state == .busy && now > slot.requestStarted {
        writer.append(raw: ",\"currentRequestMilliseconds\":")
        writer.append(integer: (now - slot.requestStarted) / 1_000_000)
      }
      writer.append(raw: "}")
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }
}
