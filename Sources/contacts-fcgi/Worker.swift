import ArgumentParser
import ContactsServer
import Logging
import Platform

/// `contacts-fcgi worker`: one worker process. The supervisor starts these with the listening
/// socket on descriptor 0; spawn-fcgi or systemd socket activation can start one the same way.
struct Worker: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serve FastCGI requests on the listening socket inherited on descriptor 0 (started by serve).",
    shouldDisplay: false)

  @Option(help: .hidden)
  var scoreboardSlot: Int?

  @Option(help: .hidden)
  var poolSize: Int = 1

  @OptionGroup var supervision: SupervisedOptions

  @OptionGroup var options: ServiceOptions

  func run() throws {
    let configuration = try options.resolved()
    let logger = Logger.service()
    guard UnixSocket.isListening(UnixSocket.inheritedDescriptor) else {
      throw ValidationError("descriptor 0 is not a listening socket; run 'contacts-fcgi serve' instead")
    }
    var scoreboard: Scoreboard?
    if scoreboardSlot != nil {
      do {
        scoreboard = try Scoreboard(descriptor: Scoreboard.workerDescriptor)
      } catch {
        logger.log(
          .warning, event: "scoreboard", "no scoreboard on descriptor 3 (\(error)); status shows this worker only")
      }
    }
    let loop = WorkerLoop(
      configuration: configuration, scoreboard: scoreboard, slot: scoreboard == nil ? nil : scoreboardSlot,
      poolSize: poolSize, supervised: supervision.supervised, logger: logger)
    throw ExitCode(loop.run())
  }
}
