import ArgumentParser
import ContactsCore
import ContactsPostgres
import ContactsServer
import Platform

/// The options `serve` and `worker` share: a configuration file, and a flag for each setting of
/// `ServiceConfiguration.settings` (parsed and range-checked there, exactly as the file's keys).
struct ServiceOptions: ParsableArguments {
  @Option(help: "A JSON configuration file (see docs/configuration.md).")
  var config: String?

  @Argument(
    parsing: .allUnrecognized,
    help: ArgumentHelp("Settings, each overriding the configuration file:", discussion: ""))
  var settings: [String] = []

  /// The file's values with the flags over them; the data directory made absolute.
  func resolved() throws -> ServiceConfiguration {
    do {
      var configuration =
        try config.map { path throws(ConfigurationError) in try ServiceConfiguration.load(path: path) }
        ?? ServiceConfiguration()
      try configuration.applyFlags(settings)
      configuration.dataDirectory = FileSystem.absolute(configuration.dataDirectory)
      return configuration
    } catch {
      throw ValidationError(error.message)
    }
  }

  /// The options for the worker processes the supervisor starts: the configuration file and
  /// the flags given on the command line, not resolved values, so that a worker started after
  /// SIGHUP reads the configuration file as it is then (roles, limits, timeouts, logging). The
  /// data directory is fixed for the supervisor's lifetime: resolved once, passed absolute, last.
  func workerArguments(dataDirectory: String) -> [String] {
    var arguments: [String] = []
    if let config { arguments += ["--config", FileSystem.absolute(config)] }
    return arguments + settings + ["--data-dir", dataDirectory]
  }
}

/// What the supervisor tells a process it starts (a worker, the events publisher).
struct SupervisedOptions: ParsableArguments {
  /// Descriptor 4 is this process's end of the supervisor's lifeline: exit once it closes.
  @Flag(help: .hidden)
  var supervised = false

  /// - Throws: `ValidationError` when `--supervised` came without the lifeline.
  func validate() throws {
    if supervised && !Lifeline.isLifeline() {
      throw ValidationError("--supervised, but descriptor \(Lifeline.childDescriptor) is not the supervisor's lifeline")
    }
  }
}

/// `contacts-fcgi config check`: validates a configuration file and prints what it resolves to.
struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config", abstract: "Configuration file tools.", subcommands: [Validate.self])

  struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "check", abstract: "Validate a configuration file; exit 1 with the reason if it is not valid.")

    @Argument(help: "The configuration file.")
    var file: String

    func run() throws {
      do {
        let configuration = try ServiceConfiguration.load(path: file)
        if let database = configuration.database {
          // A database that will not answer is as wrong as a malformed file: say so now.
          _ = try PostgresContactRepository(url: database)
        }
        StandardOutput.write("\(file): valid\n\(configuration.summary)\n")
      } catch {
        StandardError.write(Array("contacts-fcgi: \(error)\n".utf8))
        throw ExitCode.failure
      }
    }
  }
}
