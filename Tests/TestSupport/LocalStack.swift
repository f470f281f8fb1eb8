public import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The checkout's root folder, from this file's path.
public let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

/// The `contacts-fcgi` binary the tests run: `CONTACTS_FCGI_BINARY`, or the debug build.
public let serviceBinary: String =
  ProcessInfo.processInfo.environment["CONTACTS_FCGI_BINARY"]
  ?? packageRoot.appendingPathComponent(".build/debug/contacts-fcgi").path

/// A folder under /tmp that is removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
  // @unchecked: `path` is immutable after init; nothing else is stored.
  public let path: String

  public init(_ prefix: String = "contacts-test") {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    // nginx's workers (www-data) must reach the socket inside; the data directory in it is 0700.
    chmod(path, 0o755)
  }

  public func file(_ name: String) -> String { "\(path)/\(name)" }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// What a finished command printed.
public struct CommandResult: Sendable {
  public var status: Int32
  public var output: String
  public var errors: String
}

/// Runs a program to completion.
@discardableResult
public func runCommand(
  _ executable: String, _ arguments: [String], environment: [String: String]? = nil, workingDirectory: String? = nil
) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
  if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let output = Pipe()
  let errors = Pipe()
  process.standardOutput = output
  process.standardError = errors
  process.standardInput = FileHandle.nullDevice
  try process.run()
  let outputData = output.fileHandleForReading.readDataToEndOfFile()
  let errorData = errors.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
    errors: String(decoding: errorData, as: UTF8.self))
}

/// A port on 127.0.0.1 that was free a moment ago, and that no earlier call of this process
/// returned: the kernel may hand a just-closed port out again at once, and a stack given the
/// same port for HTTP and HTTPS fails to start ("a duplicate listen").
public func freePort() -> UInt16 {
  while true {
    let port = anyFreePort()
    let isNew = handedOutPorts.withLock { $0.insert(port).inserted }
    if isNew { return port }
  }
}

private let handedOutPorts = LockedPorts()

private final class LockedPorts: @unchecked Sendable {
  private let lock = NSLock()
  private var ports: Set<UInt16> = []

  func withLock<Result>(_ body: (inout Set<UInt16>) -> Result) -> Result {
    lock.lock()
    defer { lock.unlock() }
    return body(&ports)
  }
}

private func anyFreePort() -> UInt16 {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return UInt16(bigEndian: address.sin_port)
}

/// Waits until `condition` holds, polling every 20 ms; `false` after `seconds`.
public func eventually(within seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if try condition() { return true }
    usleep(20_000)
  }
  return try condition()
}

/// The real thing under test: `contacts-fcgi serve` with N workers and nginx in front of it, on
/// free loopback ports, with a temporary data directory or a PostgreSQL database. `stop()` (or
/// release) ends both. Several stacks given the same database are several hosts: each has its
/// own nginx ports, socket and workers, and they share only the database.
public final class LocalStack: @unchecked Sendable {
  // @unchecked: used from one test at a time; the processes are only touched through methods
  // that the test calls sequentially.
  public let directory = TemporaryDirectory("contacts-e2e")
  public let httpPort = freePort()
  public let httpsPort = freePort()
  public let workers: Int
  /// Whether nginx serves pushed events (nchan installed, and not turned off).
  public let eventsEnabled: Bool
  /// The PostgreSQL URL the stack serves from; `nil` for its own data directory.
  public let database: String?
  public let dataDirectory: String
  /// The arguments that name this stack's store to `contacts-fcgi` (`serve`, `import`, `check`).
  public var storeArguments: [String] {
    database.map { ["--database-url", $0] } ?? ["--data-dir", dataDirectory]
  }
  public var socketPath: String { directory.file("fcgi.sock") }
  public var runtime: String { directory.file("nginx") }
  public var serviceLog: String { directory.file("service.log") }
  public private(set) var supervisor: Process?
  private var nginx: Process?

  public var client: HTTPClient { HTTPClient(port: httpPort) }

  /// Starts the stack.
  ///
  /// - Parameters:
  ///   - workers: worker processes.
  ///   - demoData: import the demo users and queues first (into a database only if it holds
  ///     none yet: a second stack on the same database finds them there).
  ///   - database: a PostgreSQL URL (migrated) to serve from instead of a data directory.
  ///   - extraServerConfig: lines added to nginx's server block (extra test locations).
  ///   - extraHTTPConfig: lines added to nginx's http block (extra test servers).
  ///   - serveArguments: more arguments for `serve`.
  ///   - events: serve pushed events when nginx has the nchan module (`false`: render nginx
  ///     without them, as a machine without the module would be).
  ///   - dataDirectory: serve this data directory instead of a new one in the stack's folder.
  public init(
    workers: Int = 2, demoData: Bool = true, database: String? = nil, extraServerConfig: String = "",
    extraHTTPConfig: String = "", serveArguments: [String] = [], events: Bool = true, dataDirectory: String? = nil
  ) throws {
    self.workers = workers
    self.database = database
    self.dataDirectory = dataDirectory ?? directory.file("data")
    self.eventsEnabled = events && FileManager.default.fileExists(atPath: "/usr/lib/nginx/modules/ngx_nchan_module.so")
    if demoData {
      if let database {
        try importDemoData(intoDatabase: database)
      } else {
        try importDemoData(into: self.dataDirectory)
      }
    }
    let supervisor = Process()
    supervisor.executableURL = URL(fileURLWithPath: serviceBinary)
    var arguments = ["serve", "--socket", socketPath, "--workers", String(workers)] + storeArguments
    if let nginxGroup { arguments += ["--socket-group", nginxGroup] }
    if eventsEnabled { arguments += ["--events-socket", "\(runtime)/events.sock"] }
    supervisor.arguments = arguments + serveArguments
    _ = FileManager.default.createFile(atPath: serviceLog, contents: nil)
    supervisor.standardError = FileHandle(forWritingAtPath: serviceLog)
    supervisor.standardInput = FileHandle.nullDevice
    try supervisor.run()
    self.supervisor = supervisor
    guard eventually(within: 10, { FileManager.default.fileExists(atPath: socketPath) }) else {
      stop()
      throw HTTPClientError(description: "the responder did not create its socket: \(log())")
    }

    let extraFile = directory.file("extra.conf")
    try extraServerConfig.write(toFile: extraFile, atomically: true, encoding: .utf8)
    let extraHTTPFile = directory.file("extra-http.conf")
    try extraHTTPConfig.write(toFile: extraHTTPFile, atomically: true, encoding: .utf8)
    let render = try runCommand(
      packageRoot.appendingPathComponent("deploy/render-nginx.sh").path,
      [runtime, socketPath, String(httpPort), String(httpsPort), extraFile, extraHTTPFile],
      environment: ["CONTACTS_EVENTS": eventsEnabled ? "on" : "off"])
    guard render.status == 0 else {
      stop()
      throw HTTPClientError(description: "render-nginx failed: \(render.errors)")
    }
    let nginx = Process()
    nginx.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
    nginx.arguments = ["-p", runtime, "-c", "\(runtime)/nginx.conf", "-e", "\(runtime)/error.log"]
    nginx.standardInput = FileHandle.nullDevice
    try nginx.run()
    self.nginx = nginx
    let client = self.client
    guard eventually(within: 10, { (try? client.request("GET", "/contacts/openapi.json"))?.status == 200 }) else {
      let errors = (try? String(contentsOfFile: "\(runtime)/error.log", encoding: .utf8)) ?? ""
      stop()
      throw HTTPClientError(description: "nginx did not start: \(errors)")
    }
    // Every worker has opened the data directory and is waiting in accept.
    _ = eventually(within: 10) { log().components(separatedBy: "\"worker_ready\"").count - 1 >= workers }
  }

  /// The responder's log so far.
  public func log() -> String {
    (try? String(contentsOfFile: serviceLog, encoding: .utf8)) ?? ""
  }

  /// nginx's error log so far (for a failing test's message).
  public func nginxErrors() -> String {
    (try? String(contentsOfFile: "\(runtime)/error.log", encoding: .utf8)) ?? ""
  }

  /// The worker processes' ids (children of the supervisor).
  public func workerPIDs() -> [Int32] {
    guard let supervisor else { return [] }
    return childProcesses(of: supervisor.processIdentifier).filter { commandLine(of: $0).dropFirst().first == "worker" }
  }

  /// The events publisher's process id, when the supervisor runs one.
  public func publisherPID() -> Int32? {
    guard let supervisor else { return nil }
    return childProcesses(of: supervisor.processIdentifier).first {
      commandLine(of: $0).dropFirst().first == "publisher"
    }
  }

  /// `/_contacts/status` through nginx: the pool's scoreboard as the status page reports it.
  ///
  /// - Throws: if the page does not answer 200 with a JSON object.
  public func status() throws -> [String: Any] {
    let response = try client.request("GET", "/_contacts/status")
    guard response.status == 200, let json = response.json else {
      throw HTTPClientError(description: "no status page: \(response)")
    }
    return json
  }

  /// How many workers the status page counts, and how many of them are on a request (the
  /// status request itself included: one worker is always busy answering it).
  public func workerCounts() throws -> (total: Int, active: Int, idle: Int) {
    let workers = try status()["workers"] as? [String: Int] ?? [:]
    return (workers["total"] ?? 0, workers["active"] ?? 0, workers["idle"] ?? 0)
  }

  /// An extra server for `extraHTTPConfig`: 127.0.0.1:`port`, basic authentication with
  /// nginx/local/htpasswd, and `location /contacts` holding `contactsLocation` (the lines a
  /// test wants to try instead of contacts-locations.conf).
  public static func basicAuthServer(port: UInt16, contactsLocation: String) -> String {
    """
    server {
        listen 127.0.0.1:\(port);
        auth_basic "Contacts";
        auth_basic_user_file \(packageRoot.path)/nginx/local/htpasswd;
        location /contacts {
    \(contactsLocation.split(separator: "\n").map { "        \($0)" }.joined(separator: "\n"))
        }
    }
    """
  }

  /// Runs `contacts-fcgi` with `arguments` (import, check…); add `storeArguments` to name this
  /// stack's store.
  public func command(_ arguments: [String]) throws -> CommandResult {
    try runCommand(serviceBinary, arguments)
  }

  /// Every process of the stack: the supervisor, its workers, nginx's master and its workers.
  public func processIDs() -> [Int32] {
    var pids: [Int32] = []
    for process in [supervisor, nginx].compactMap({ $0 }) where process.isRunning {
      pids.append(process.processIdentifier)
      pids += childProcesses(of: process.processIdentifier)
    }
    return pids
  }

  /// Sends `SIGKILL` to every process of the stack at once, as a host that loses power; waits
  /// until they are gone.
  ///
  /// - Returns: the processes killed.
  @discardableResult
  public func killEverything() -> [Int32] {
    let pids = processIDs()
    for pid in pids { kill(pid, SIGKILL) }
    _ = eventually(within: 10) { !pids.contains(where: isRunningProcess) }
    return pids
  }

  /// Stops nginx and the pool; waits for both.
  public func stop() {
    if let nginx, nginx.isRunning {
      nginx.terminate()
      nginx.waitUntilExit()
    }
    nginx = nil
    if let supervisor, supervisor.isRunning {
      supervisor.terminate()
      supervisor.waitUntilExit()
    }
  }

  deinit { stop() }
}
