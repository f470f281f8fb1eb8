import Foundation

/// An nginx with a configuration of the test's own: a minimal nginx.conf with pid, logs and
/// temp paths in the test's folder, the repository's snippets linked under its conf folder's
/// snippets/ (as under /etc/nginx), the site files under contacts/, and a server block that
/// includes one authentication variant, snippets/contacts-server.conf and
/// snippets/contacts-locations.conf.
/// Stopped when released.
public final class OwnNginx {
  /// How clients authenticate: the nginx/auth snippet the server block includes.
  public enum Variant: Sendable {
    /// auth_basic with nginx/local/htpasswd; admin and agent get their roles from a map.
    case basic
    /// auth_request to an identity service (`StubIdentityService`) on this port.
    case authRequest(port: UInt16)
    /// TLS with client certificates issued by this PKI's CA.
    case clientCertificate(TestPKI)
  }

  /// The port it listens on, on 127.0.0.1 (TLS for `.clientCertificate`).
  public let port: UInt16
  /// nginx's prefix folder: conf/, logs, pid and temporary files.
  public let prefix: String
  private let process: BackgroundProcess

  /// A plain-HTTP client for `port`.
  public var client: HTTPClient { HTTPClient(port: port) }

  /// Writes the configuration, checks it with `nginx -t`, starts nginx and waits until it listens.
  ///
  /// - Parameters:
  ///   - directory: the test's folder; the prefix is `nginx-<port>` in it.
  ///   - socket: the responder's unix socket (`ResponderPool.socketPath`).
  ///   - variant: the authentication variant to include.
  ///   - port: the port to listen on.
  ///   - extraServerConfig: lines added to the server block (before the snippets).
  ///   - httpConfig: extra http-level lines (for example whole servers).
  ///   - serverBlock: write the server block that includes the snippet (false: `httpConfig` has one).
  public init(
    in directory: TemporaryDirectory, socket: String, variant: Variant, port: UInt16 = freePort(),
    extraServerConfig: String = "", httpConfig: String = "", serverBlock: Bool = true
  ) throws {
    self.port = port
    prefix = directory.file("nginx-\(port)")
    let conf = "\(prefix)/conf"
    let files = FileManager.default
    for folder in ["\(conf)/snippets", "\(conf)/contacts", "\(prefix)/tmp"] {
      try files.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }
    let nginxFolder = packageRoot.appendingPathComponent("nginx").path
    // Every nginx/contacts-*.conf, as install.sh installs them.
    for snippet in try files.contentsOfDirectory(atPath: nginxFolder)
    where snippet.hasPrefix("contacts-") && snippet.hasSuffix(".conf") {
      try files.createSymbolicLink(
        atPath: "\(conf)/snippets/\(snippet)", withDestinationPath: "\(nginxFolder)/\(snippet)")
    }
    try files.createSymbolicLink(atPath: "\(conf)/snippets/contacts-auth", withDestinationPath: "\(nginxFolder)/auth")
    try """
    "https://dashboard.example.com" $http_origin;
    "~^https://[a-z0-9-]+\\.tools\\.example\\.com$" $http_origin;

    """.write(toFile: "\(conf)/contacts/cors-origins.map", atomically: true, encoding: .utf8)

    var httpLevel = ""
    var serverLevel = ""
    var listen = "listen 127.0.0.1:\(port);"
    switch variant {
    case .basic:
      try files.createSymbolicLink(
        atPath: "\(conf)/contacts/htpasswd", withDestinationPath: "\(nginxFolder)/local/htpasswd")
      try "admin \"Contact Center Admin\";\nagent Agent;\n"
        .write(toFile: "\(conf)/contacts/basic-roles.map", atomically: true, encoding: .utf8)
      httpLevel = "include snippets/contacts-auth/basic-roles.conf;"
      serverLevel = "include snippets/contacts-auth/basic.conf;"
    case .authRequest(let identityPort):
      httpLevel = "upstream contacts_identity { server 127.0.0.1:\(identityPort); }"
      serverLevel = """
        set $contacts_identity_path /verify;
        include snippets/contacts-auth/auth-request.conf;
        """
    case .clientCertificate(let pki):
      try files.copyItem(atPath: pki.caCertificate, toPath: "\(conf)/contacts/client-ca.pem")
      try "\"\(TestPKI.agentSubject)\" \"Agent\";\n\"\(TestPKI.adminSubject)\" \"Contact Center Admin\";\n"
        .write(toFile: "\(conf)/contacts/client-certificate-roles.map", atomically: true, encoding: .utf8)
      httpLevel = "include snippets/contacts-auth/client-certificate-roles.conf;"
      serverLevel = """
        ssl_certificate \(pki.serverCertificate);
        ssl_certificate_key \(pki.serverKey);
        include snippets/contacts-auth/client-certificate.conf;
        """
      listen = "listen 127.0.0.1:\(port) ssl;"
    }
    let server =
      serverBlock
      ? """
      server {
          \(listen)
          \(serverLevel)
          \(extraServerConfig)
          include snippets/contacts-server.conf;
          set $contacts_static \(nginxFolder);
          include snippets/contacts-locations.conf;
      }
      """ : ""
    let configuration = """
      \(nginxGroup.map { "user \($0);" } ?? "")
      worker_processes 1;
      pid \(prefix)/nginx.pid;
      error_log \(prefix)/error.log warn;
      daemon off;
      events { worker_connections 128; }
      http {
          include \(nginxFolder)/local/mime.types;
          access_log \(prefix)/access.log;
          client_body_temp_path \(prefix)/tmp/client_body;
          fastcgi_temp_path \(prefix)/tmp/fastcgi;
          proxy_temp_path \(prefix)/tmp/proxy;
          uwsgi_temp_path \(prefix)/tmp/uwsgi;
          scgi_temp_path \(prefix)/tmp/scgi;
          upstream contacts_fcgi { server unix:\(socket); }
          include snippets/contacts-http.conf;
          \(httpLevel)
          \(server)
          \(httpConfig)
      }

      """
    try configuration.write(toFile: "\(conf)/nginx.conf", atomically: true, encoding: .utf8)
    let arguments = ["-p", prefix, "-c", "\(conf)/nginx.conf", "-e", "\(prefix)/error.log"]
    let test = try runCommand("/usr/sbin/nginx", arguments + ["-t"])
    guard test.status == 0 else {
      throw HTTPClientError(description: "nginx -t failed: \(test.errors)\n\(configuration)")
    }
    process = try BackgroundProcess("/usr/sbin/nginx", arguments, log: "\(prefix)/stderr.log")
    let prefix = prefix
    guard eventually(within: 10, { isListening(port: port) }) else {
      let errors = (try? String(contentsOfFile: "\(prefix)/error.log", encoding: .utf8)) ?? ""
      throw HTTPClientError(description: "nginx did not start: \(errors)")
    }
  }

  /// Server-block lines for `/_test/nginx_status`: nginx's stub_status page, no authentication,
  /// which `requestsInProgress()` reads.
  public static let stubStatusLocation = "location = /_test/nginx_status { auth_basic off; stub_status; }"

  /// How many requests nginx has read the headers of and not finished (stub_status's "Writing",
  /// the status request itself included); `nil` without `stubStatusLocation` in the server block.
  public func requestsInProgress() -> Int? {
    guard let page = try? client.request("GET", "/_test/nginx_status"), page.status == 200,
      let writing = page.text.firstRange(of: "Writing: ")
    else { return nil }
    return Int(page.text[writing.upperBound...].prefix { $0.isNumber })
  }

  /// Stops nginx and waits for it.
  public func stop() { process.stop() }
}
