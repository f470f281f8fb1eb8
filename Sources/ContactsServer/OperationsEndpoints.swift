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
    writer.append(raw: "{")
    writer.append(key: "processManager", string: "static", first: true)
    writer.append(key: "startedAt", integer: startedAt)
    writer.append(key: "uptimeSeconds", integer: Clock.unixSeconds() - startedAt)
    writer.append(raw: ",\"workers\":{")
    writer.append(key: "configured", integer: poolSize, first: true)
    writer.append(key: "total", integer: slots.count)
    writer.append(key: "active", integer: active)
    writer.append(key: "idle", integer: slots.count - active)
    writer.append(raw: "}")
    writer.append(
      key: "acceptedRequests", integer: (scoreboard?.retiredRequests ?? 0) + slots.reduce(0) { $0 + $1.requests })
    writer.append(
      key: "slowRequests", integer: (scoreboard?.retiredSlowRequests ?? 0) + slots.reduce(0) { $0 + $1.slowRequests })
    writer.append(key: "restarts", integer: scoreboard?.restarts ?? 0)
    writer.append(key: "requestTimeouts", integer: scoreboard?.timeouts ?? 0)
    writer.append(key: "maxRequests", integer: configuration.maxRequests)
    writer.append(key: "requestTimeoutSeconds", integer: configuration.requestTimeoutSeconds)
    writer.append(key: "slowRequestMilliseconds", integer: configuration.slowRequestMilliseconds)
    writer.append(key: "dataGeneration", integer: generation)
    writer.append(raw: ",\"perWorker\":[")
    for (index, slot) in slots.sorted(by: { $0.pid < $1.pid }).enumerated() {
      if index > 0 { writer.append(raw: ",") }
      writer.append(raw: "{")
      writer.append(key: "pid", integer: slot.pid, first: true)
      writer.append(key: "state", string: slot.state == .busy ? "busy" : "idle")
      writer.append(key: "requests", integer: slot.requests)
      writer.append(key: "slowRequests", integer: slot.slowRequests)
      writer.append(key: "startedAt", integer: slot.startedAt)
      writer.append(key: "dataGeneration", integer: slot.generation)
      if slot.state == .busy && now > slot.requestStarted {
        writer.append(key: "currentRequestMilliseconds", integer: (now - slot.requestStarted) / 1_000_000)
      }
      writer.append(raw: "}")
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }
}
