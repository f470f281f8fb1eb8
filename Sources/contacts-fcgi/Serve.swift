import ArgumentParser
import ContactsServer
import Logging
import Platform

/// `contacts-fcgi serve`: the supervisor of a static pool of worker processes on one socket.
struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the worker pool on a FastCGI unix socket (or on the socket inherited on descriptor 0).",
    discussion: """
      SIGTERM or SIGINT: stop after in-flight requests finish, exit 0. SIGHUP: replace the \
      workers one by one (new configuration and binary) without refusing a request. A worker \
      that dies is replaced at once.

      SETTINGS (flag [configuration key = default, range; reload]):
      \(ServiceConfiguration.settingsHelp)
      """)

  @OptionGroup var options: ServiceOptions

  func run() throws {
    let configuration = try options.resolved()
    let logger = Logger.service()
    func fail(_ message: String) -> ExitCode {
      logger.log(.error, event: "start_failed", message)
      return ExitCode.failure
    }

    // Blocked here and taken with sigtimedwait; spawned workers start with none blocked.
    Signals.block(Supervisor.watchedSignals)

    // Open the store once before any worker does: creates the data directory before workers race
    // to, and says at once (exit 1) when a database is unreachable, refuses the login or has no
    // schema yet, instead of starting workers that cannot serve.
    do {
      _ = try configuration.openRepository(logger: logger)
    } catch {
      throw fail("cannot open the \(configuration.storeDescription): \(error)")
    }

    // A listening socket handed over on descriptor 0 (systemd socket activation, spawn-fcgi)
    // wins over the configuration file's "socket"; only an explicit --socket flag creates one then.
    let listener: Int32
    var createdSocket: String?
    let inherited = UnixSocket.isListening(UnixSocket.inheritedDescriptor)
    let socketFlagGiven = options.settings.contains { $0 == "--socket" || $0.hasPrefix("--socket=") }
    if let path = configuration.socket, socketFlagGiven || !inherited {
      let absolute = FileSystem.absolute(path)
      do {
        listener = try UnixSocket.listen(path: absolute, group: configuration.socketGroup)
        createdSocket = absolute
      } catch  where error.code == SystemError.addressInUse {
        throw fail(
          "\(path) belongs to a running server (it accepts connections); stop that server first, or give another --socket"
        )
      } catch {
        throw fail("cannot listen on \(path): \(error)")
      }
    } else if inherited {
      listener = UnixSocket.inheritedDescriptor
    } else {
      throw ValidationError("give --socket PATH, or start with a listening socket on descriptor 0")
    }

    let environment: ProcessSupervisorEnvironment
    do {
      // Room for a full pool twice over: SIGHUP starts each replacement before the old one exits.
      let scoreboard = try Scoreboard.create(slots: 2 * configuration.workers + 2)
      environment = ProcessSupervisorEnvironment(
        executable: Processes.currentExecutable(),
        workerArguments: ["worker"] + options.workerArguments(dataDirectory: configuration.dataDirectory)
          + ["--pool-size", String(configuration.workers)],
        publisherArguments: configuration.eventsSocket == nil
          ? nil : ["publisher"] + options.workerArguments(dataDirectory: configuration.dataDirectory),
        listener: listener, scoreboard: scoreboard, lifeline: try Lifeline())
    } catch {
      throw fail("cannot create the scoreboard or the workers' lifeline: \(error)")
    }
    let supervisor = Supervisor(
      size: configuration.workers, requestTimeoutSeconds: configuration.requestTimeoutSeconds,
      environment: environment, logger: logger)
    logger.log(
      .info, event: "supervisor_started", "serving with \(configuration.workers) workers",
      ["socket": "\(createdSocket ?? "descriptor 0")", "store": "\(configuration.storeDescription)"])
    supervisor.run()
    if let createdSocket { try? FileSystem.removeIfPresent(createdSocket) }
    logger.log(.info, event: "supervisor_stopped", "all workers stopped")
  }
}
