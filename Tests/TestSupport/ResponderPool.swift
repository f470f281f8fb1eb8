import Foundation

/// `contacts-fcgi serve` on its own socket (`contacts.sock` in the test's folder) with the demo
/// users and queues imported, for an nginx configured by the test itself (`OwnNginx`). Stopped
/// when released.
public final class ResponderPool {
  /// The unix socket the pool listens on.
  public let socketPath: String
  private let process: BackgroundProcess

  /// Starts the pool and waits until every worker is ready.
  ///
  /// - Parameters:
  ///   - directory: the test's folder: the data directory, the socket and pool.log go there.
  ///   - workers: worker processes.
  public init(in directory: TemporaryDirectory, workers: Int = 2) throws {
    let dataDirectory = directory.file("data")
    try importDemoData(into: dataDirectory)
    socketPath = directory.file("contacts.sock")
    var arguments = ["serve", "--socket", socketPath, "--workers", String(workers), "--data-dir", dataDirectory]
    if let nginxGroup { arguments += ["--socket-group", nginxGroup] }
    process = try BackgroundProcess(serviceBinary, arguments, log: directory.file("pool.log"))
    let socketPath = socketPath
    let process = process
    guard
      eventually(within: 10, { process.log().components(separatedBy: "\"worker_ready\"").count - 1 >= workers })
        && FileManager.default.fileExists(atPath: socketPath)
    else {
      throw HTTPClientError(description: "the pool did not start: \(process.log())")
    }
  }
}
