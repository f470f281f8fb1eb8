import Foundation
import Platform
import TestSupport
import Testing

/// The responder's listening socket: its file's mode, and what creating it leaves alone.
@Suite struct UnixSocketTests {
  @Test(arguments: [UInt32(0o660), 0o600, 0o666])
  func theSocketFileHasTheModeAskedFor(mode: UInt32) throws {
    let directory = TemporaryDirectory("unix-socket")
    let path = directory.file("responder.sock")
    let listening = try UnixSocket.listen(path: path, mode: mode)
    defer { close(listening) }
    var status = stat()
    #expect(stat(path, &status) == 0)
    #expect(UInt32(status.st_mode) & 0o777 == mode)
    #expect(UInt32(status.st_mode) & UInt32(S_IFMT) == UInt32(S_IFSOCK))
  }

  /// The umask belongs to the whole process. Creating a socket once set it for a moment, and a
  /// directory another thread made meanwhile came out without its execute bits: in the test
  /// runner, an nginx started beside it could not enter its own temp folder and answered 500.
  /// Directories made on one thread while another creates sockets all get the process's usual
  /// mode.
  @Test func creatingSocketsLeavesTheProcessUmaskAlone() throws {
    let directory = TemporaryDirectory("unix-socket-umask")
    func modeOfNewDirectory(_ name: String) -> UInt32 {
      let path = directory.file(name)
      guard mkdir(path, 0o777) == 0 else { return 0 }
      var status = stat()
      guard stat(path, &status) == 0 else { return 0 }
      return UInt32(status.st_mode) & 0o777
    }
    let usual = modeOfNewDirectory("before")
    let stop = StopFlag()
    let creator = Thread {
      for round in 0..<400 {
        let path = directory.file("socket-\(round).sock")
        guard let listening = try? UnixSocket.listen(path: path, mode: 0o600) else { continue }
        close(listening)
      }
      stop.set()
    }
    creator.start()
    var modes: [UInt32] = []
    var made = 0
    while !stop.isSet || made < 100 {
      modes.append(modeOfNewDirectory("directory-\(made)"))
      made += 1
    }
    let odd = modes.filter { $0 != usual }
    #expect(odd.isEmpty, "\(odd.count) of \(modes.count) directories had another mode than \(String(usual, radix: 8))")
  }
}
