public import ContactsCore
import ContactsPostgres
import ContactsStore
public import Logging

extension ServiceConfiguration {
  /// The store these settings name: the PostgreSQL database when `database` is set, else the
  /// data directory. Never one for the other: a database that cannot be reached is an error,
  /// not a reason to fall back to local files.
  ///
  /// - Throws: the store's own error, naming what is wrong (a malformed URL, a refused login,
  ///   an unreachable server, a schema this build does not know, an unreadable directory).
  ///
  /// - Parameter duringAnOutage: a database that cannot be reached now is not an error (the
  ///   store answers 503 until it can): for workers, which `serve` starts only after it opened
  ///   the store itself, and which may be replaced while the database is down.
  public func openRepository(logger: Logger, duringAnOutage: Bool = false) throws -> any ContactRepository {
    if let database {
      let repository = try PostgresContactRepository(
        url: database, connectingLater: duringAnOutage, log: { logger.log(.warning, event: "store", $0) })
      repository.changeHistory = changeHistory
      return repository
    }
    let repository = try FileContactRepository(
      directory: dataDirectory, log: { logger.log(.warning, event: "store", $0) })
    repository.compactionThresholdBytes = Int64(journalCompactionBytes)
    repository.changeHistory = changeHistory
    return repository
  }

  /// What tells the store's generation without loading it: the events publisher's watcher.
  /// Like a worker's store, it starts during a database outage and connects later (the
  /// publisher logs each failed poll and goes on).
  public func openGenerationWatcher(logger: Logger) throws -> any GenerationWatching {
    if let database {
      return try PostgresContactRepository(
        url: database, connectingLater: true, log: { logger.log(.warning, event: "store", $0) })
    }
    return GenerationWatcher(directory: dataDirectory)
  }

  /// Where the contacts live, for log lines and `config check`.
  public var storeDescription: String {
    database.map { "PostgreSQL \(Self.redacted($0))" } ?? "data directory \(dataDirectory)"
  }

  /// `url` without its password.
  static func redacted(_ url: String) -> String {
    let parts = url.split(separator: "@", maxSplits: 1)
    guard parts.count == 2, let credentials = parts[0].split(separator: "/").last, credentials.contains(":") else {
      return url
    }
    let user = credentials.split(separator: ":", maxSplits: 1)[0]
    return parts[0].dropLast(credentials.count) + user + ":***@" + parts[1]
  }
}
