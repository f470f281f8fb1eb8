import ArgumentParser
import ContactsStore
import FastCGI
import Platform

/// `contacts-fcgi serve`: the supervisor of a static pool of worker processes on one socket.
struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the worker pool on a FastCGI unix socket (or on the socket inherited on descriptor 0).",
    discussion: """
      SIGTERM or SIGINT: stop after in-flight requests finish, exit 0. SIGHUP: replace the \
      workers one by one (new configuration and binary) without refusing a request. A worker \
      that dies is replaced at once.
      """)

  @OptionGroup var options: ServiceOptions

  @Option(help: "The unix socket to create (mode 0660). Without it, descriptor 0 must be a listening socket.")
  var socket: String?

  @Option(help: "Group to give the socket to (nginx's group, e.g. www-data).")
  var socketGroup: String?

  @Option(help: "Number of worker processes. [2, or the configuration file's]")
  var workers: Int?

  func validate() throws {
    if let workers, !(1...256).contains(workers) { throw ValidationError("--workers must be from 1 to 256") }
  }

  func run() throws {
    var configuration = try options.resolved()
    if let socket { configuration.socket = socket }
    if let socketGroup { configuration.socketGroup = socketGroup }
    if let workers { configuration.workers = workers }

    // Blocked here and taken with sigtimedwait; spawned workers start with none blocked.
    Signals.block([Signals.child, Signals.terminate, Signals.interrupt, Signals.hangUp])

    // Create the data directory before any worker races to.
    do {
      _ = try FileContactRepository(directory: configuration.dataDirectory, log: { Log.warning("store", $0) })
    } catch {
      Log.error("start_failed", "cannot open the data directory: \(error)")
      throw ExitCode.failure
    }

    // A listening socket handed over on descriptor 0 (systemd socket activation, spawn-fcgi)
    // wins over the configuration file's "socket"; only an explicit --socket creates one then.
    let listener: Int32
    var createdSocket: String?
    let inherited = FastCGIListener.isListeningSocket()
    if let path = configuration.socket, socket != nil || !inherited {
      do {
        listener = try FastCGIListener.listen(path: FileSystem.absolute(path), group: configuration.socketGroup)
        createdSocket = FileSystem.absolute(path)
      } catch  where error.code == SystemError.addressInUse {
        Log.error(
          "start_failed",
          "\(path) belongs to a running server (it accepts connections); stop that server first, or give another --socket"
        )
        throw ExitCode.failure
      } catch {
        Log.error("start_failed", "cannot listen on \(path): \(error)")
        throw ExitCode.failure
      }
    } else if inherited {
      listener = FastCGIListener.inheritedDescriptor
    } else {
      throw ValidationError("give --socket PATH, or start with a listening socket on descriptor 0")
    }

    let scoreboard: Scoreboard
    do {
      // Room for a full pool twice over: SIGHUP starts each replacement before the old one exits.
      scoreboard = try Scoreboard.create(slots: 2 * configuration.workers + 2)
    } catch {
      Log.error("start_failed", "cannot create the scoreboard: \(error)")
      throw ExitCode.failure
    }
    let lifeline: Lifeline
    do {
      lifeline = try Lifeline()
    } catch {
      Log.error("start_failed", "cannot create the workers' lifeline pipe: \(error)")
      throw ExitCode.failure
    }
    let supervisor = Supervisor(
      executable: Processes.currentExecutable(),
      workerArguments: ["worker"] + options.workerArguments(dataDirectory: configuration.dataDirectory)
        + ["--pool-size", String(configuration.workers)],
      listener: listener, size: configuration.workers, requestTimeoutSeconds: configuration.requestTimeoutSeconds,
      scoreboard: scoreboard, lifeline: lifeline)
    Log.info(
      "supervisor_started", "serving with \(configuration.workers) workers",
      ["socket": createdSocket ?? "descriptor 0", "dataDirectory": configuration.dataDirectory])
    supervisor.run()
    if let createdSocket { try? FileSystem.removeIfPresent(createdSocket) }
    Log.info("supervisor_stopped", "all workers stopped")
  }
}
