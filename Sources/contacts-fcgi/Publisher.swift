import ArgumentParser
import ContactsServer
import Logging
import Platform

/// `contacts-fcgi publisher`: pushes `event: changes` to nginx on every commit. The supervisor
/// runs one when `eventsSocket` is set; it can also run on its own (a systemd unit, say).
struct Publisher: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Push an event to nginx's nchan publisher on every commit (started by serve when eventsSocket is set).",
    shouldDisplay: false)

  @OptionGroup var supervision: SupervisedOptions

  @OptionGroup var options: ServiceOptions

  func run() throws {
    let configuration = try options.resolved()
    let logger = Logger.service()
    guard let socket = configuration.eventsSocket else {
      throw ValidationError("give --events-socket PATH (nginx's events publisher socket)")
    }
    let watcher = try configuration.openGenerationWatcher(logger: logger)
    let publisher = EventPublisher(
      watcher: watcher, socketPath: socket, supervised: supervision.supervised, logger: logger)
    throw ExitCode(publisher.run())
  }
}
