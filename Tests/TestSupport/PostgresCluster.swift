import Foundation
import Platform

#if canImport(Glibc)
  import Glibc
#endif

/// A private PostgreSQL cluster for tests: `initdb` into a temporary folder as the unprivileged
/// `postgres` user, a unix socket in that folder and no TCP listener (deploy/lib.sh's
/// `start_private_postgres`, the same code `deploy/test.sh` uses). Never a system service.
public final class PostgresCluster: @unchecked Sendable {
  // @unchecked: the folder is immutable; the cluster itself is driven by its own commands.
  /// The folder holding the data, the log and the socket.
  public let directory: String
  private let ownsFolder: TemporaryDirectory?

  /// The cluster every test shares: the one `deploy/test.sh` started (its socket folder in
  /// `CONTACTS_TEST_POSTGRES`), or one started on first use and stopped when the tests exit.
  /// (A function under a lock, not a lazy `static let`: starting processes inside a static
  /// initializer deadlocks Foundation's `Process` on Linux.)
  public static func shared() throws -> PostgresCluster {
    try sharedLock.withLock {
      if let sharedCluster { return sharedCluster }
      let cluster: PostgresCluster
      if let folder = ProcessInfo.processInfo.environment["CONTACTS_TEST_POSTGRES"], !folder.isEmpty {
        cluster = PostgresCluster(existing: folder)
      } else {
        cluster = try PostgresCluster()
        sharedToStop = cluster.directory
        atexit(stopSharedCluster)
      }
      sharedCluster = cluster
      return cluster
    }
  }
  private static let sharedLock = NSLock()
  nonisolated(unsafe) private static var sharedCluster: PostgresCluster?
  nonisolated(unsafe) fileprivate static var sharedToStop: String?

  /// Starts a cluster of its own (for a test that stops and restarts the database).
  public init() throws {
    let folder = TemporaryDirectory("contacts-pg")
    ownsFolder = folder
    directory = folder.path + "/cluster"
    try Self.script("start_private_postgres \"$1\" >/dev/null", directory)
  }

  private init(existing folder: String) {
    directory = folder
    ownsFolder = nil
  }

  deinit {
    if ownsFolder != nil { Self.stop(directory) }
  }

  /// The URL of a database on this cluster.
  public func url(database: String) -> String {
    "postgresql:///\(database)?host=\(directory)&user=contacts"
  }

  /// A new, empty database with the contacts schema (`contacts-fcgi migrate`); its URL.
  public func createDatabase() throws -> String {
    let name = "contacts_test_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
    let created = try runCommand(
      "/bin/bash",
      [
        "-c", "\"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/createdb\" -h \"$1\" -U contacts \"$2\"", "-",
        directory, name,
      ])
    guard created.status == 0 else { throw HTTPClientError(description: "createdb failed: \(created.errors)") }
    let url = url(database: name)
    let migrated = try runCommand(serviceBinary, ["migrate", "--database-url", url])
    guard migrated.status == 0 else { throw HTTPClientError(description: "migrate failed: \(migrated.errors)") }
    return url
  }

  /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
  public func crash() throws { try control("-m immediate -w -s stop") }

  /// Stops every process of the server (SIGSTOP) without closing anything: a hung machine, as
  /// a client sees it. Connections stay open and silent; new ones are accepted by the kernel and
  /// never answered.
  public func freeze() throws { try signalAll("STOP") }

  /// Lets a frozen server go on (SIGCONT).
  public func thaw() throws { try signalAll("CONT") }

  private func signalAll(_ signal: String) throws {
    try Self.script(
      "main=$(head -1 \"$1/data/postmaster.pid\"); pkill -\(signal) -P \"$main\"; kill -\(signal) \"$main\"", directory)
  }

  /// Starts the server again after `crash()`.
  public func start() throws {
    try control("-l \"$1/postgres.log\" -w -s -o \"-k $1 -c listen_addresses=''\" start")
  }

  private func control(_ arguments: String) throws {
    try Self.script("runuser -u postgres -- \"$(postgres_bin)/pg_ctl\" -D \"$1/data\" \(arguments)", directory)
  }

  static func stop(_ directory: String) {
    try? script("stop_private_postgres \"$1\"", directory)
  }

  /// The test process may hold thousands of descriptors (a connection-flood test) that a child
  /// inherits; PostgreSQL refuses to start with too few left, so the script closes them first.
  static let closeInheritedDescriptors =
    "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; "

  /// Runs `command` in bash with deploy/lib.sh sourced and `$1` = `argument`; its output goes to
  /// the test's own. Not through Foundation's `Process`: waiting for a command that leaves a
  /// daemon behind (pg_ctl start) never returned there.
  static func script(_ command: String, _ argument: String) throws {
    let null = try FileDescriptor(open: "/dev/null", .readOnly)
    let pid = try Processes.spawn(
      "/bin/bash",
      arguments: [
        "-c", Self.closeInheritedDescriptors + "cd \"$2\" && source deploy/lib.sh && \(command)", "-", argument,
        packageRoot.path,
      ],
      standardInput: null.rawValue)
    let exit = try Processes.wait(for: pid)
    guard exit == .exited(0) else { throw HTTPClientError(description: "\(command) \(argument): \(exit)") }
  }
}

/// Stops the cluster `PostgresCluster.shared()` started, when the test process exits.
private func stopSharedCluster() {
  PostgresCluster.stopShared()
}

extension PostgresCluster {
  fileprivate static func stopShared() {
    guard let folder = sharedToStop else { return }
    stop(folder)
    // Its TemporaryDirectory is never released (a static): remove the folder here, or every
    // test run leaves a cluster's worth of files in /tmp.
    try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: folder).deletingLastPathComponent().path)
  }
}
