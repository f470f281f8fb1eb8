import Foundation

/// Raw requests over TLS, optionally with a client certificate, many in one python3 process
/// (one connection each): curl would normalize the paths, and a process per request is slow.
public struct TLSBatchClient {
  /// The TLS port on 127.0.0.1.
  public let port: UInt16
  /// The PKI whose CA the server's certificate is checked against, and whose client
  /// certificates can be presented.
  public let pki: TestPKI
  /// Where the script and each batch's request file go.
  public let directory: TemporaryDirectory

  public init(port: UInt16, pki: TestPKI, directory: TemporaryDirectory) {
    self.port = port
    self.pki = pki
    self.directory = directory
  }

  /// The client: python3's ssl over plain sockets, answers base64-encoded in JSON.
  static let script = #"""
    import base64, json, socket, ssl, sys
    spec = json.load(open(sys.argv[1]))
    context = ssl.create_default_context(cafile=spec["ca"])
    if spec["certificate"]:
        context.load_cert_chain(spec["certificate"], spec["key"])
    answers = []
    for request in spec["requests"]:
        answer = b""
        try:
            with socket.create_connection(("127.0.0.1", spec["port"]), timeout=10) as plain:
                with context.wrap_socket(plain, server_hostname="127.0.0.1") as connection:
                    connection.sendall(base64.b64decode(request))
                    while True:
                        chunk = connection.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
        except (OSError, ssl.SSLError) as error:
            answer += ("\r\n\r\nconnection error: %s" % error).encode()
        answers.append(base64.b64encode(answer).decode())
    json.dump(answers, sys.stdout)
    """#

  /// Sends each request on a connection of its own, byte for byte.
  ///
  /// - Parameters:
  ///   - requests: raw HTTP/1.1 requests (see `rawRequest`).
  ///   - certificate: the name of a `TestPKI` client certificate to present, or `nil`.
  /// - Returns: the responses, in order.
  /// - Throws: if python3 fails, or an answer is not an HTTP response (a connection error, say).
  public func send(_ requests: [[UInt8]], certificate: String?) throws -> [HTTPResponse] {
    let scriptPath = directory.file("tls-batch.py")
    try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    let specPath = directory.file("tls-batch.json")
    let spec: [String: Any] = [
      "port": Int(port), "ca": pki.caCertificate,
      "certificate": certificate.map { "\(pki.folder)/\($0).pem" } ?? "",
      "key": certificate.map { "\(pki.folder)/\($0).key" } ?? "",
      "requests": requests.map { Data($0).base64EncodedString() },
    ]
    try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: specPath))
    let result = try runCommand("/usr/bin/env", ["python3", scriptPath, specPath])
    guard result.status == 0,
      let answers = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String]
    else { throw HTTPClientError(description: "the TLS batch failed: \(result.errors)") }
    return try zip(requests, answers).map { request, answer in
      let method = String(decoding: request.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
      return try HTTPClient.parse(Array(Data(base64Encoded: answer) ?? Data()), method: method)
    }
  }
}

/// A raw HTTP/1.1 request, the target byte for byte, with `Connection: close` and (when `body`
/// is given) a JSON body.
public func rawRequest(_ method: String, _ target: String, body: [UInt8]? = nil) -> [UInt8] {
  var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
  if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
  return Array((head + "\r\n").utf8) + (body ?? [])
}
