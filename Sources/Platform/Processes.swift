internal import Glibc

/// How a child process ended, from `waitpid(2)`'s status.
public enum ProcessExit: Equatable, Sendable, CustomStringConvertible {
  case exited(Int32)
  case signalled(Int32)

  public var description: String {
    switch self {
    case .exited(let code): "exited with status \(code)"
    case .signalled(let signal): "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
    }
  }
}

/// Starting, signalling and reaping child processes.
public enum Processes {
  /// This process's id.
  public static var currentID: Int32 { getpid() }

  /// The running executable, from `/proc/self/exe`, so a worker is the same binary as its
  /// supervisor even if the file on disk has since been replaced.
  public static func currentExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let capacity = buffer.count - 1
    guard let count = try? Syscall.call("readlink", { readlink("/proc/self/exe", &buffer, capacity) }), count > 0
    else { return CommandLine.arguments[0] }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Starts `executable` with `arguments` by `posix_spawn(3)`, with `standardInput` duplicated
  /// onto descriptor 0 (how FastCGI hands a listening socket to a worker), every signal at its
  /// default disposition and none blocked. Standard output and error are inherited; every other
  /// descriptor is closed in the child, whether or not it is close-on-exec, so that a child
  /// never holds what it was not handed (another thread's pipe or socket of the moment: a
  /// parent waiting for that pipe's end would wait as long as the child lives).
  ///
  /// - Returns: the child's process id.
  /// - Throws: `SystemError` naming `posix_spawn`.
  ///   - inherited: more descriptors to hand over, as target descriptor → source descriptor.
  public static func spawn(
    _ executable: String, arguments: [String], standardInput: Int32, inherited: [Int32: Int32] = [:]
  ) throws(SystemError) -> Int32 {
    try spawn(
      executable, arguments: arguments, standardInput: standardInput, inherited: inherited,
      addCloseFrom: Self.addCloseFrom)
  }

  /// `spawn`, given glibc's `posix_spawn_file_actions_addclosefrom_np` or `nil` (a C library
  /// older than 2.34, which a test stands in for).
  static func spawn(
    _ executable: String, arguments: [String], standardInput: Int32, inherited: [Int32: Int32],
    addCloseFrom: CloseFrom?
  ) throws(SystemError) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // Two steps, through descriptors far above any in use: a source that is also another
    // entry's target (the scoreboard on 4 going to 3 while the lifeline goes to 4, say) would
    // otherwise be overwritten before it is copied.
    let handOver = [(target: Int32(0), source: standardInput)] + inherited.map { (target: $0.key, source: $0.value) }
    for (index, entry) in handOver.enumerated() {
      posix_spawn_file_actions_adddup2(&actions, entry.source, Self.stagingDescriptor + Int32(index))
    }
    for (index, entry) in handOver.enumerated() {
      posix_spawn_file_actions_adddup2(&actions, Self.stagingDescriptor + Int32(index), entry.target)
      posix_spawn_file_actions_addclose(&actions, Self.stagingDescriptor + Int32(index))
    }
    // Then everything else: the gaps below the highest target one by one (closing one that is
    // not open is no error), and all above it at once.
    let highest = max(2, handOver.map(\.target).max() ?? 0)
    let targets = Set(handOver.map(\.target))
    for descriptor in 3..<(highest + 1) where !targets.contains(descriptor) {
      posix_spawn_file_actions_addclose(&actions, descriptor)
    }
    if let addCloseFrom {
      _ = addCloseFrom(&actions, highest + 1)
    }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    // The worker inherits this process's environment as it is.
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard result == 0 else { throw SystemError(syscall: "posix_spawn", path: executable, code: result) }
    return pid
  }

  /// Where `spawn` parks descriptors while it hands them over.
  static let stagingDescriptor: Int32 = 900

  /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up at run
  /// time: Swift's Glibc module does not declare it. `nil` on an older C library, where a
  /// child inherits those above the highest handed-over one that are not close-on-exec.
  static let addCloseFrom: CloseFrom? = {
    // RTLD_DEFAULT is the null handle in glibc.
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: CloseFrom.self)
  }()

  /// `posix_spawn_file_actions_addclosefrom_np`'s type.
  typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

  /// `kill(2)`; a process that is already gone is not an error.
  public static func send(_ signal: Int32, to pid: Int32) {
    Syscall.bestEffort("kill") { kill(pid, signal) }
  }

  /// `waitpid(2)` for one child, blocking until it ends.
  ///
  /// - Throws: `SystemError` naming `waitpid`.
  public static func wait(for pid: Int32) throws(SystemError) -> ProcessExit {
    var status: Int32 = 0
    try Syscall.call("waitpid") { waitpid(pid, &status, 0) }
    return exit(from: status)
  }

  /// `waitpid(2)` without blocking: one child that has ended, or `nil` when none has.
  public static func reapAny() -> (pid: Int32, exit: ProcessExit)? {
    var status: Int32 = 0
    // ECHILD (no children at all) is "none has ended" too.
    guard let pid = try? Syscall.call("waitpid", { waitpid(-1, &status, WNOHANG) }), pid > 0 else { return nil }
    return (pid, exit(from: status))
  }

  private static func exit(from status: Int32) -> ProcessExit {
    // WIFEXITED / WTERMSIG are macros Swift cannot import.
    let signal = status & 0x7f
    return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
  }

}

/// The process environment.
public enum Environment {
  /// `getenv(3)`.
  public static func value(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
  }
}
