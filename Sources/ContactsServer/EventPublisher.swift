public import ContactsCore
public import Logging
import Platform

/// The process that pushes `event: changes` to every open event stream: it learns of each
/// commit by polling the store's generation (a `stat` of the journal, or one tiny query) a few
/// times a second, and posts the new cursor to nginx's nchan publisher on a unix socket. It
/// serves no request and holds no contacts.
///
/// Polling rather than inotify or `LISTEN`/`NOTIFY`: a commit by any process or host is seen
/// within one interval either way, nothing can be missed (a poll compares generations, it does
/// not count notifications), it works unchanged through PgBouncer in transaction mode (where
/// `LISTEN` does not), and it costs one syscall or one round trip every 200 ms.
public struct EventPublisher {
  let watcher: any GenerationWatching
  let socketPath: String
  let intervalMilliseconds: Int
  let supervised: Bool
  let logger: Logger

  /// - Parameters:
  ///   - watcher: tells the store's generation.
  ///   - socketPath: nginx's publisher socket (`eventsSocket`).
  ///   - intervalMilliseconds: how often to look.
  ///   - supervised: exit as soon as the supervisor's lifeline closes.
  ///   - logger: the publisher's logger.
  public init(
    watcher: any GenerationWatching, socketPath: String, intervalMilliseconds: Int = 200, supervised: Bool,
    logger: Logger
  ) {
    self.watcher = watcher
    self.socketPath = socketPath
    self.intervalMilliseconds = intervalMilliseconds
    self.supervised = supervised
    self.logger = logger
  }

  /// Publishes until SIGTERM or SIGINT, or until the supervisor is gone.
  ///
  /// - Returns: the process's exit status.
  public func run() -> Int32 {
    let stopSignals = [Signals.terminate, Signals.interrupt]
    Signals.block(stopSignals)
    var published: UInt64?
    var failing = false
    logger.log(.info, event: "publisher_ready", "publishing events to \(socketPath)")
    while Signals.wait(for: stopSignals, timeoutMilliseconds: intervalMilliseconds) == nil {
      if supervised && Lifeline.parentIsGone() { return 0 }
      do {
        let generation = try watcher.currentGeneration()
        if generation != published {
          try publish(generation)
          published = generation
        }
        if failing { logger.log(.info, event: "publisher_recovered", "publishing events again") }
        failing = false
      } catch {
        // Logged once per outage, retried every interval: events are hints, the feed is the truth.
        if !failing { logger.log(.warning, event: "publish_failed", "cannot publish events: \(error)") }
        failing = true
      }
    }
    return 0
  }

  /// One message: `{"cursor":"c<generation>"}`, which nchan delivers as `event: changes`.
  func publish(_ generation: UInt64) throws {
    let body = Array("{\"cursor\":\"c\(generation)\"}".utf8)
    let head =
      "POST /_contacts/publish HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      + "Content-Length: \(body.count)\r\n\r\n"
    let response = try UnixSocket.exchange(path: socketPath, request: Array(head.utf8) + body)
    let statusLine = String(decoding: response.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]), (200..<300).contains(status) else {
      throw PublishError(statusLine: statusLine)
    }
  }

  struct PublishError: Error, CustomStringConvertible {
    var statusLine: String
    var description: String { "nginx's publisher answered '\(statusLine)'" }
  }
}
