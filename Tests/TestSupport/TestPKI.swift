import Foundation

/// A CA, a server certificate for 127.0.0.1, and client certificates: "agent" (mapped to the
/// Agent role), "admin" (Contact Center Admin), "visitor" (valid, no role) and "rogue" (the
/// agent's subject, self-signed).
///
/// Every file is `<name>.pem` and `<name>.key` in `folder`; made with the openssl command.
public struct TestPKI: Sendable {
  /// The folder holding every certificate and key.
  public let folder: String
  /// The CA certificate that issued everything but "rogue".
  public var caCertificate: String { "\(folder)/ca.pem" }
  /// The server certificate (localhost, 127.0.0.1).
  public var serverCertificate: String { "\(folder)/server.pem" }
  /// The server certificate's key.
  public var serverKey: String { "\(folder)/server.key" }
  /// The agent certificate's subject as nginx's `$ssl_client_s_dn` spells it.
  public static let agentSubject = "CN=agent,OU=Agents,O=Contacts Test"
  /// The admin certificate's subject as nginx's `$ssl_client_s_dn` spells it.
  public static let adminSubject = "CN=admin,OU=Admins,O=Contacts Test"

  /// Makes the CA and every certificate in `pki/` under `directory` (valid for two days).
  public init(in directory: TemporaryDirectory) throws {
    folder = directory.file("pki")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try openssl(["req", "-x509"] + key + ["-keyout", "ca.key", "-subj", "/O=Contacts Test/CN=Test CA", "-days", "2"])
    try issue("server", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1")
    try issue("agent", subject: "/O=Contacts Test/OU=Agents/CN=agent", extensions: "extendedKeyUsage=clientAuth")
    try issue("visitor", subject: "/O=Contacts Test/CN=visitor", extensions: "extendedKeyUsage=clientAuth")
    try issue("admin", subject: "/O=Contacts Test/OU=Admins/CN=admin", extensions: "extendedKeyUsage=clientAuth")
    try openssl(
      ["req", "-x509"] + key + ["-keyout", "rogue.key", "-subj", "/O=Contacts Test/OU=Agents/CN=agent", "-days", "2"],
      output: "rogue.pem")
  }

  /// curl's arguments to present a client certificate.
  public func client(_ name: String) -> [String] {
    ["--cert", "\(folder)/\(name).pem", "--key", "\(folder)/\(name).key"]
  }

  private func issue(_ name: String, subject: String, extensions: String) throws {
    try openssl(
      ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", "\(name).key", "-subj", subject], output: "\(name).csr")
    try extensions.write(toFile: "\(folder)/\(name).ext", atomically: true, encoding: .utf8)
    try openssl(
      ["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
        + ["-extfile", "\(name).ext"], output: "\(name).pem")
  }

  private func openssl(_ arguments: [String], output: String = "ca.pem") throws {
    let result = try runCommand(
      "/bin/sh", ["-c", #"cd "$1" && shift && exec openssl "$@""#, "openssl", folder] + arguments + ["-out", output])
    guard result.status == 0 else { throw HTTPClientError(description: "openssl \(arguments): \(result.errors)") }
  }
}
