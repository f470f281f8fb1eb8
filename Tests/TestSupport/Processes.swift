public import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A process running in the background with its stdout and stderr in a log file; stopped with
/// SIGTERM (then SIGKILL) when released.
public final class BackgroundProcess: @unchecked Sendable {
  // @unchecked: used from one test at a time; `process` is only touched through these methods.
  private let process = Process()
  private let logPath: String

  /// Starts `executable` with `arguments`, its output going to the file `log`.
  public init(_ executable: String, _ arguments: [String], log: String) throws {
    logPath = log
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = FileHandle(forWritingAtPath: log)
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
  }

  /// Whether the process has not ended yet.
  public var isRunning: Bool { process.isRunning }

  /// What the process has written so far.
  public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// Stops the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
  ///
  /// - Returns: its exit status, or minus the signal that ended it.
  @discardableResult
  public func stop() -> Int32 {
    if process.isRunning {
      process.terminate()
      if !eventually(within: 10, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
    }
    return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
  }

  deinit { stop() }
}

/// A process's state letter ("R", "S", "Z"…) and parent, from /proc; `nil` once it is gone.
func processStatus(_ pid: Int32) -> (state: Substring, parent: Int32)? {
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = stat.lastIndex(of: ")")
  else { return nil }
  // After the command name in parentheses: state, then the parent's pid.
  let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
  guard fields.count > 1, let parent = Int32(fields[1]) else { return nil }
  return (fields[0], parent)
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
public func isRunningProcess(_ pid: Int32) -> Bool {
  guard let status = processStatus(pid) else { return false }
  return status.state != "Z"
}

/// The live (not zombie) children of `parent`, sorted.
public func childProcesses(of parent: Int32) -> [Int32] {
  let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  return entries.compactMap { Int32($0) }.filter { pid in
    guard let status = processStatus(pid) else { return false }
    return status.state != "Z" && status.parent == parent
  }.sorted()
}

/// The arguments `pid` runs with (`/proc/<pid>/cmdline`), the program first; empty when gone.
public func commandLine(of pid: Int32) -> [String] {
  guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
  return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
}

/// nginx's workers' group when the tests run as root: the responder's socket is given to it.
public let nginxGroup: String? = getuid() == 0 && getgrnam("www-data") != nil ? "www-data" : nil

/// Imports the demo users and queues (deploy/demo) into `dataDirectory`, creating it.
public func importDemoData(into dataDirectory: String) throws {
  for kind in ["users", "queues"] {
    let demo = packageRoot.appendingPathComponent("deploy/demo/\(kind).json").path
    let result = try runCommand(serviceBinary, ["import", kind, demo, "--data-dir", dataDirectory])
    guard result.status == 0 else { throw HTTPClientError(description: "import failed: \(result.errors)") }
  }
}

/// Imports the demo users and queues into the PostgreSQL database at `url`, unless it holds
/// some already (`--only-if-empty`, as deploy/run.sh does for several stacks on one database).
public func importDemoData(intoDatabase url: String) throws {
  for kind in ["users", "queues"] {
    let demo = packageRoot.appendingPathComponent("deploy/demo/\(kind).json").path
    let result = try runCommand(serviceBinary, ["import", kind, demo, "--database-url", url, "--only-if-empty"])
    guard result.status == 0 else { throw HTTPClientError(description: "import failed: \(result.errors)") }
  }
}

/// The path of a tool a test needs, installed with apt-get (as root) when missing, as
/// deploy/lib.sh's ensure_packages does.
///
/// - Throws: if the tool is missing and cannot be installed.
public func requireTool(_ path: String, package: String) throws -> String {
  if FileManager.default.isExecutableFile(atPath: path) { return path }
  if getuid() == 0 {
    let install = try runCommand(
      "/usr/bin/apt-get", ["install", "-y", "-qq", "--no-install-recommends", package],
      environment: ["DEBIAN_FRONTEND": "noninteractive"])
    if install.status == 0, FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  throw HTTPClientError(description: "\(path) is missing: apt-get install \(package)")
}

/// A count that tasks add to and others poll (acknowledged writes, served requests).
public final class SharedCounter: @unchecked Sendable {
  // @unchecked: the one Int is only touched under `lock`.
  private let lock = NSLock()
  private var count = 0

  public init() {}

  /// The count so far.
  public var value: Int { lock.withLock { count } }

  /// Adds one.
  public func increment() { lock.withLock { count += 1 } }
}

/// A flag one task sets and others poll.
public final class StopFlag: @unchecked Sendable {
  // @unchecked: the one Bool is only touched under `lock`.
  private let lock = NSLock()
  private var value = false

  public init() {}

  /// Whether `set()` has been called.
  public var isSet: Bool { lock.withLock { value } }

  /// Raises the flag, for good.
  public func set() { lock.withLock { value = true } }
}

/// Runs `body` on a thread of its own rather than in the cooperative pool the tests share: a
/// loop of blocking calls there holds a pool thread for as long as it runs, and can starve the
/// test that is to stop it.
///
/// - Returns: a function that waits for `body` to end and returns its result.
public func startThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> @Sendable () -> T {
  let done = DispatchSemaphore(value: 0)
  let result = ThreadResult<T>()
  Thread {
    result.value = body()
    done.signal()
  }.start()
  return {
    done.wait()
    done.signal()  // a second call returns at once too
    return result.value!
  }
}

/// What a thread started by `startThread` returned.
private final class ThreadResult<T: Sendable>: @unchecked Sendable {
  // @unchecked: written once by the thread before it signals, read only after the wait.
  var value: T?
}

/// Runs `body(index)` for `0..<count` as concurrent tasks.
///
/// - Returns: their results, in index order.
public func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
  try await withThrowingTaskGroup(of: (Int, T).self) { group in
    for index in 0..<count { group.addTask { (index, try body(index)) } }
    var results: [(Int, T)] = []
    for try await result in group { results.append(result) }
    return results.sorted { $0.0 < $1.0 }.map(\.1)
  }
}

/// Waits until the child `process` has exited (after a SIGKILL, say) without waiting for
/// Foundation to notice: `Process` learns of a child's end from a socket the child holds, and a
/// process spawned meanwhile on another thread may inherit that socket and keep it open, so
/// `waitUntilExit()` can wait for as long as that other process lives (a CI run hung 20 minutes
/// on two dead writers). This asks the kernel (`waitid` with `WNOWAIT`: the child stays for
/// Foundation to reap; one Foundation reaped already is gone too).
///
/// - Returns: `false` if the child still runs after `seconds`.
public func waitUntilExited(_ process: Process, within seconds: Double = 30) -> Bool {
  let pid = process.processIdentifier
  return eventually(within: seconds) {
    var info = siginfo_t()
    guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT | WNOHANG) == 0 else {
      return errno == ECHILD  // Foundation noticed, and reaped it already
    }
    return info._sifields._sigchld.si_pid == pid
  }
}

/// What is in `pipe` now, read without blocking: once the writer is dead this is all it wrote,
/// even if another process inherited the write end and keeps it open (see `waitUntilExited`).
public func drain(_ pipe: Pipe) -> Data {
  let descriptor = pipe.fileHandleForReading.fileDescriptor
  _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
  var data = Data()
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = read(descriptor, &buffer, buffer.count)
    guard count > 0 else { return data }
    data.append(contentsOf: buffer[0..<count])
  }
}
