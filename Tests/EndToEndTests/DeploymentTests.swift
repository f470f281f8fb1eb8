import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Production deployment as an admin meets it: the drop-in snippet inside a server block of the
/// test's own nginx configuration (not the local stack's template) with each authentication
/// variant, CORS, the hardened HTTPS example, the systemd units, a socket handed over on
/// descriptor 0 (spawn-fcgi, systemd socket activation) and the installer.
@Suite(.serialized)
struct DeploymentTests {
  // MARK: Authentication variants

  @Test func basicAuthVariantAnswersAgentGuestAndAnonymousInOwnServerBlock() throws {
    let directory = TemporaryDirectory("contacts-deploy")
    let pool = try ResponderPool(in: directory)
    let nginx = try OwnNginx(
      in: directory, socket: pool.socketPath, variant: .basic,
      extraServerConfig: """
        # Lets the test appear as a remote client (X-Forwarded-For) while bound to 127.0.0.1.
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        """)
    let client = nginx.client

    let agent = try client.request("GET", "/contacts/user-joej", user: "agent")
    #expect(agent.status == 200, "\(agent)")
    #expect(agent.json?["userName"] as? String == "joej")
    let guest = try client.request("GET", "/contacts", user: "guest")
    #expect(guest.status == 403 && guest.errorCode == "forbidden", "\(guest)")
    let anonymous = try client.request("GET", "/contacts")
    #expect(anonymous.status == 401 && anonymous.errorCode == "unauthenticated", "\(anonymous)")
    #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Basic") == true)
    let wrongPassword = try client.request(
      "GET", "/contacts", headers: [("Authorization", "Basic \(Data("agent:nope".utf8).base64EncodedString())")])
    #expect(wrongPassword.status == 401)
    let admin = try client.request("POST", "/contacts", user: "admin", json: #"{"name":"Own","phoneNumber":"555 1"}"#)
    #expect(admin.status == 201, "\(admin)")
    #expect(try client.request("POST", "/contacts", user: "agent", json: "{}").status == 403)

    // Public and operations locations: no credentials needed, status and ping for loopback only.
    #expect(try client.request("GET", "/contacts/openapi.json").status == 200)
    let status = try client.request("GET", "/_contacts/status")
    #expect(status.status == 200 && status.json?["workers"] != nil, "\(status)")
    #expect(try client.request("GET", "/_contacts/ping").text == "pong\n")
    let remote = [("X-Forwarded-For", "203.0.113.7")]
    #expect(try client.request("GET", "/_contacts/status", headers: remote).status == 403)
    #expect(try client.request("GET", "/_contacts/ping", headers: remote).status == 403)
    #expect(try client.request("GET", "/contacts", user: "agent", headers: remote).status == 200)
    withExtendedLifetime((directory, pool, nginx)) {}
  }

  @Test func authRequestVariantTakesIdentityOnlyFromTheIdentityService() throws {
    let directory = TemporaryDirectory("contacts-deploy")
    let pool = try ResponderPool(in: directory)
    let identity = try StubIdentityService(in: directory)
    let nginx = try OwnNginx(in: directory, socket: pool.socketPath, variant: .authRequest(port: identity.port))
    let client = nginx.client
    func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    let agent = try client.request("GET", "/contacts/queue-sales", headers: bearer("agent-token"))
    #expect(agent.status == 200, "\(agent)")
    let guest = try client.request("GET", "/contacts", headers: bearer("guest-token"))
    #expect(guest.status == 403 && guest.errorCode == "forbidden", "\(guest)")
    let anonymous = try client.request("GET", "/contacts")
    #expect(anonymous.status == 401 && anonymous.errorCode == "unauthenticated", "\(anonymous)")
    #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
    let unknownToken = try client.request("GET", "/contacts", headers: bearer("forged"))
    #expect(unknownToken.status == 401)
    let refused = try client.request("GET", "/contacts", headers: bearer("blocked-token"))
    #expect(refused.status == 403 && refused.errorCode == "forbidden", "\(refused)")
    let admin = try client.request(
      "POST", "/contacts", headers: bearer("admin-token"), json: #"{"name":"Via SSO","phoneNumber":"555 2"}"#)
    #expect(admin.status == 201, "\(admin)")
    #expect(try client.request("GET", "/contacts/openapi.json").status == 200)
    #expect(try client.request("GET", "/_contacts/ping").status == 200)

    // The stub is deliberately naive (it trusts X-Contacts-* request headers), so these would
    // succeed if nginx forwarded the client's claims; the client's own claims reach nobody.
    let spoofs: [[(String, String)]] = [
      [("X-Contacts-Roles", "Contact Center Admin")],
      [("X-Contacts-User", "admin"), ("X-Contacts-Roles", "Contact Center Admin")],
      [("x-contacts-roles", "Contact Center Admin"), ("X-CONTACTS-USER", "admin")],
      [("X-Contacts-Roles", "Agent"), ("X-Contacts-Roles", "Contact Center Admin")],
    ]
    let body = Array(#"{"name":"Spoof","phoneNumber":"555"}"#.utf8)
    for spoof in spoofs {
      let write = try client.request("POST", "/contacts", headers: bearer("agent-token") + spoof, body: body)
      #expect(write.status == 403, "\(spoof): \(write)")
      let read = try client.request("GET", "/contacts", headers: bearer("guest-token") + spoof)
      #expect(read.status == 403, "\(spoof): \(read)")
      #expect(try client.request("GET", "/contacts", headers: spoof).status == 401, "\(spoof)")
    }
    let seen = identity.requestHeaderNames()
    #expect(!seen.isEmpty)
    #expect(!seen.contains { $0.lowercased().hasPrefix("x-contacts-") }, "\(seen)")
    #expect(seen.contains("X-Original-URI"))
    let custom = try client.request("GET", "/contacts?type=Custom", headers: bearer("agent-token")).contacts
    #expect(custom.map { $0["name"] } == ["Via SSO"])
    withExtendedLifetime((directory, pool, identity, nginx)) {}
  }

  @Test func clientCertificateVariantMapsTheSubjectToUserAndRoles() throws {
    let directory = TemporaryDirectory("contacts-deploy")
    let pool = try ResponderPool(in: directory)
    let pki = try TestPKI(in: directory)
    let nginx = try OwnNginx(in: directory, socket: pool.socketPath, variant: .clientCertificate(pki))
    let url = "https://127.0.0.1:\(nginx.port)"

    let agent = try curl(["--cacert", pki.caCertificate] + pki.client("agent") + ["\(url)/contacts/user-joej"])
    #expect(agent.status == 200, "\(agent)")
    #expect(agent.json?["userName"] as? String == "joej")
    let agentWrite = try curl(
      ["--cacert", pki.caCertificate] + pki.client("agent")
        + ["-X", "POST", "-H", "Content-Type: application/json", "-d", "{}", "\(url)/contacts"])
    #expect(agentWrite.status == 403 && agentWrite.text.contains("'agent'"), "\(agentWrite)")
    let noRole = try curl(["--cacert", pki.caCertificate] + pki.client("visitor") + ["\(url)/contacts"])
    #expect(noRole.status == 403 && noRole.errorCode == "forbidden", "\(noRole)")
    let noCertificate = try curl(["--cacert", pki.caCertificate, "\(url)/contacts"])
    #expect(noCertificate.status == 400 && noCertificate.errorCode == "client_certificate_required", "\(noCertificate)")
    // Same subject as the agent, but not issued by the trusted CA.
    let rogue = try curl(["--cacert", pki.caCertificate] + pki.client("rogue") + ["\(url)/contacts"])
    #expect(rogue.status == 400 && rogue.errorCode == "bad_client_certificate", "\(rogue)")
    let spoofed = try curl(
      ["--cacert", pki.caCertificate] + pki.client("visitor")
        + ["-H", "X-Contacts-Roles: Agent", "-H", "Contacts-Roles: Agent", "\(url)/contacts"])
    #expect(spoofed.status == 403)
    withExtendedLifetime((directory, pool, nginx)) {}
  }

  // MARK: CORS

  @Test func corsPreflightIsAnsweredBeforeAuthenticationForListedOriginsOnly() throws {
    let directory = TemporaryDirectory("contacts-deploy")
    let pool = try ResponderPool(in: directory)
    let nginx = try OwnNginx(in: directory, socket: pool.socketPath, variant: .basic)
    let client = nginx.client
    let allowed = "https://dashboard.example.com"
    func preflight(_ origin: String, _ method: String = "PUT") throws -> HTTPResponse {
      try client.request(
        "OPTIONS", "/contacts/user-joej",
        headers: [
          ("Origin", origin), ("Access-Control-Request-Method", method),
          ("Access-Control-Request-Headers", "authorization, content-type, if-match"),
        ])
    }

    let ok = try preflight(allowed)
    #expect(ok.status == 204, "\(ok)")
    #expect(ok.header("Access-Control-Allow-Origin") == allowed)
    #expect(ok.header("Access-Control-Allow-Credentials") == "true")
    let methods = Set((ok.header("Access-Control-Allow-Methods") ?? "").components(separatedBy: ", "))
    #expect(methods.isSuperset(of: ["GET", "HEAD", "POST", "PUT", "DELETE"]), "\(methods)")
    let allowedHeaders = Set((ok.header("Access-Control-Allow-Headers") ?? "").components(separatedBy: ", "))
    #expect(allowedHeaders == ["Authorization", "Content-Type", "If-Match", "If-None-Match"])
    #expect(ok.headers.contains { $0.name == "Vary" && $0.value == "Origin" })
    // Also matched by a regular expression in the origins file.
    #expect(try preflight("https://crm.tools.example.com").header("Access-Control-Allow-Origin") != nil)

    for origin in ["https://evil.example", "https://dashboard.example.com.evil.example", "null"] {
      let refused = try preflight(origin)
      #expect(!refused.headers.contains { $0.name.lowercased().hasPrefix("access-control-") }, "\(refused)")
      let read = try client.request("GET", "/contacts", user: "agent", headers: [("Origin", origin)])
      #expect(read.status == 200)
      #expect(!read.headers.contains { $0.name.lowercased().hasPrefix("access-control-") }, "\(read)")
    }

    // The actual requests: readable cross-origin, errors included, with the API's headers exposed.
    let listing = try client.request("GET", "/contacts", user: "agent", headers: [("Origin", allowed)])
    #expect(listing.status == 200)
    #expect(listing.header("Access-Control-Allow-Origin") == allowed)
    #expect(listing.header("Access-Control-Allow-Credentials") == "true")
    let exposed = Set((listing.header("Access-Control-Expose-Headers") ?? "").components(separatedBy: ", "))
    #expect(exposed == ["ETag", "X-Total-Count", "Link", "X-Contacts-Permissions", "Location"])
    let unauthenticated = try client.request("GET", "/contacts", headers: [("Origin", allowed)])
    #expect(unauthenticated.status == 401 && unauthenticated.header("Access-Control-Allow-Origin") == allowed)
    let forbidden = try client.request("GET", "/contacts", user: "guest", headers: [("Origin", allowed)])
    #expect(forbidden.status == 403 && forbidden.header("Access-Control-Allow-Origin") == allowed)

    // Not a preflight: a plain OPTIONS, or one with an Origin but no requested method, reaches
    // authentication and then the responder, which answers 405 with Allow.
    let plain = try client.request("OPTIONS", "/contacts", user: "admin")
    #expect(plain.status == 405 && plain.errorCode == "method_not_allowed", "\(plain)")
    #expect(plain.header("Allow") == "GET, HEAD, POST")
    let originOnly = try client.request("OPTIONS", "/contacts/user-joej", user: "admin", headers: [("Origin", allowed)])
    #expect(originOnly.status == 405 && originOnly.header("Allow") == "GET, HEAD", "\(originOnly)")
    #expect(try client.request("OPTIONS", "/contacts").status == 401)
    withExtendedLifetime((directory, pool, nginx)) {}
  }

  // MARK: The hardened HTTPS example

  @Test func hardenedHTTPSExamplePassesNginxTestAndServesOverHTTP2() throws {
    let directory = TemporaryDirectory("contacts-deploy")
    let pool = try ResponderPool(in: directory)
    let pki = try TestPKI(in: directory)
    let example = try String(
      contentsOfFile: packageRoot.appendingPathComponent("nginx/examples/contacts-https-server.conf").path,
      encoding: .utf8)
    let httpPort = freePort()
    let httpsPort = freePort()
    var rendered = example.components(separatedBy: "\n").filter { !$0.contains("listen [::]") }
      .joined(separator: "\n")
    for (from, to) in [
      ("listen 80;", "listen 127.0.0.1:\(httpPort);"),
      ("listen 443 ssl http2;", "listen 127.0.0.1:\(httpsPort) ssl http2;"),
      ("/etc/ssl/contacts/fullchain.pem", pki.serverCertificate),
      ("/etc/ssl/contacts/privkey.pem", pki.serverKey),
      ("set $contacts_static /usr/share/contacts;", "set $contacts_static \(packageRoot.path)/nginx;"),
    ] {
      #expect(rendered.contains(from), "the example no longer contains \(from)")
      rendered = rendered.replacingOccurrences(of: from, with: to)
    }
    let nginx = try OwnNginx(
      in: directory, socket: pool.socketPath, variant: .basic, port: httpsPort,
      httpConfig: rendered, serverBlock: false)

    let url = "https://127.0.0.1:\(httpsPort)"
    let agent = try curl(["--cacert", pki.caCertificate, "--http2", "-u", "agent:agent", "\(url)/contacts"])
    #expect(agent.status == 200, "\(agent)")
    #expect(agent.httpVersion == "2")
    #expect(agent.header("Strict-Transport-Security") == "max-age=31536000")
    let dashboard = try curl(["--cacert", pki.caCertificate, "-u", "agent:agent", "\(url)/dashboard/"])
    #expect(dashboard.status == 200 && dashboard.header("Strict-Transport-Security") != nil, "\(dashboard)")
    let document = try curl(["--cacert", pki.caCertificate, "\(url)/contacts/openapi.json"])
    #expect(document.status == 200 && document.header("Strict-Transport-Security") != nil, "\(document)")
    #expect(try curl(["--cacert", pki.caCertificate, "\(url)/contacts"]).status == 401)
    let tls12 = try curl(
      ["--cacert", pki.caCertificate, "--tlsv1.2", "--tls-max", "1.2", "-u", "agent:agent", "\(url)/contacts"])
    #expect(tls12.status == 200, "\(tls12)")
    // The server itself refuses TLS 1.1 (the client is allowed to offer it for this check).
    let tls11 = try runCommand(
      "/usr/bin/openssl",
      [
        "s_client", "-connect", "127.0.0.1:\(httpsPort)", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
        "-CAfile", pki.caCertificate,
      ])
    #expect(tls11.status != 0)
    #expect(tls11.errors.contains("alert protocol version"), "\(tls11.output)\(tls11.errors)")
    #expect(tls11.output.contains("Cipher is (NONE)"))
    let redirect = try HTTPClient(port: httpPort).request("GET", "/contacts?type=User")
    #expect(redirect.status == 301)
    #expect(redirect.header("Location") == "https://127.0.0.1/contacts?type=User")
    withExtendedLifetime((directory, pool, nginx)) {}
  }

  // MARK: systemd and descriptor 0

  @Test func systemdUnitsPassSystemdAnalyzeVerify() throws {
    let analyze = try requireTool("/usr/bin/systemd-analyze", package: "systemd")
    let directory = TemporaryDirectory("contacts-units")
    let units = ["contacts.service", "contacts.socket", "contacts-activated.service"]
    var texts: [String: String] = [:]
    for unit in units {
      let text = try String(
        contentsOfFile: packageRoot.appendingPathComponent("deploy/systemd/\(unit)").path, encoding: .utf8)
      texts[unit] = text
      // verify insists that ExecStart's binary exists: point it at the one just built.
      try text.replacingOccurrences(of: "/usr/local/bin/contacts-fcgi", with: serviceBinary)
        .write(toFile: directory.file(unit), atomically: true, encoding: .utf8)
    }
    let verify = try runCommand(analyze, ["verify", "--man=no"] + units.map(directory.file))
    #expect(verify.status == 0, "\(verify.errors)")
    #expect(verify.errors.isEmpty && verify.output.isEmpty, "\(verify.output)\(verify.errors)")

    // The check has teeth: a misspelt setting in the same file is reported.
    let broken = directory.file("broken.service")
    try
      (texts["contacts.service", default: ""].replacingOccurrences(
        of: "/usr/local/bin/contacts-fcgi", with: serviceBinary
      )
      .replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystems=strict"))
      .write(toFile: broken, atomically: true, encoding: .utf8)
    let brokenVerify = try runCommand(analyze, ["verify", "--man=no", broken])
    #expect(brokenVerify.errors.contains("ProtectSystems"), "\(brokenVerify.errors)")

    let service = texts["contacts.service", default: ""]
    for line in [
      "ExecStart=/usr/local/bin/contacts-fcgi serve --config /etc/contacts/contacts.json",
      "User=contacts", "SupplementaryGroups=www-data", "RuntimeDirectory=contacts", "RuntimeDirectoryMode=0755",
      "StateDirectory=contacts", "StateDirectoryMode=0700", "ExecReload=/bin/kill -HUP $MAINPID",
      "KillSignal=SIGTERM", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
    ] {
      #expect(service.contains("\n\(line)\n"), "contacts.service lacks \(line)")
    }
    let socket = texts["contacts.socket", default: ""]
    for line in [
      "ListenStream=/run/contacts/contacts.sock", "SocketUser=contacts", "SocketGroup=www-data", "SocketMode=0660",
    ] {
      #expect(socket.contains("\n\(line)\n"), "contacts.socket lacks \(line)")
    }
    let activated = texts["contacts-activated.service", default: ""]
    for line in ["StandardInput=socket", "StandardOutput=journal", "StandardError=journal"] {
      #expect(activated.contains("\n\(line)\n"), "contacts-activated.service lacks \(line)")
    }
    #expect(activated.contains("\nExecStart=/usr/local/bin/contacts-fcgi serve --config /etc/contacts/contacts.json\n"))
    #expect(!activated.contains("\nRuntimeDirectory="))
    withExtendedLifetime(directory) {}
  }

  /// The way systemd (`StandardInput=socket`) and spawn-fcgi start a FastCGI program: a
  /// listening unix socket on descriptor 0. `serve` runs its pool on it; `worker` serves alone.
  @Test(arguments: [["serve", "--workers", "2"], ["worker"]])
  func poolServesOnAListeningSocketInheritedOnDescriptorZero(command: [String]) throws {
    let spawn = try requireTool("/usr/bin/spawn-fcgi", package: "spawn-fcgi")
    let directory = TemporaryDirectory("contacts-deploy")
    let dataDirectory = directory.file("data")
    try importDemoData(into: dataDirectory)
    let socketPath = directory.file("spawned.sock")
    var arguments = ["-s", socketPath, "-M", "0660", "-n"]
    if let group = nginxGroup { arguments += ["-G", group] }
    // A configuration file naming a socket, as /etc/contacts/contacts.json does: the socket
    // handed over on descriptor 0 must win, and no other socket be created.
    let configuredSocket = directory.file("configured.sock")
    let config = directory.file("contacts.json")
    try #"{"socket": "\#(configuredSocket)"}"#.write(toFile: config, atomically: true, encoding: .utf8)
    let spawned = try BackgroundProcess(
      spawn, arguments + ["--", serviceBinary] + command + ["--config", config, "--data-dir", dataDirectory],
      log: directory.file("spawned.log"))
    guard eventually(within: 10, { spawned.log().contains("\"worker_ready\"") }) else {
      Issue.record("no worker became ready: \(spawned.log())")
      return
    }
    if command[0] == "serve" { #expect(spawned.log().contains("\"socket\":\"descriptor 0\"")) }
    #expect(!FileManager.default.fileExists(atPath: configuredSocket))

    let nginx = try OwnNginx(in: directory, socket: socketPath, variant: .basic)
    let agent = try nginx.client.request("GET", "/contacts/queue-sales", user: "agent")
    #expect(agent.status == 200, "\(agent)")
    #expect(try nginx.client.request("GET", "/contacts", user: "guest").status == 403)
    let created = try nginx.client.request(
      "POST", "/contacts", user: "admin", json: #"{"name":"Spawned","phoneNumber":"555 3"}"#)
    #expect(created.status == 201)

    // And straight over FastCGI, as nginx speaks it.
    let fastCGI = try FastCGIClient(socketPath: socketPath)
    fastCGI.send(FastCGIClient.beginRequest)
    fastCGI.send(
      FastCGIClient.params([
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/contacts?type=Custom"), ("QUERY_STRING", "type=Custom"),
        ("REMOTE_USER", "agent"), ("CONTACTS_ROLES", "Agent"),
      ]))
    fastCGI.send(FastCGIClient.params([]))
    fastCGI.send(FastCGIClient.record(type: 5, content: []))
    let answer = fastCGI.readStdout()
    #expect(answer.hasPrefix("Status: 200") && answer.contains("\"Spawned\""), "\(answer)")

    nginx.stop()
    let exit = spawned.stop()
    #expect(exit == 0, "SIGTERM should stop it cleanly: \(spawned.log())")
    withExtendedLifetime(directory) {}
  }

  // MARK: The installer

  @Test func installerIsIdempotentAndUninstallKeepsDataAndConfiguration() throws {
    let root = TemporaryDirectory("contacts-install")
    let installer = packageRoot.appendingPathComponent("deploy/install.sh").path
    let install = ["--root", root.path, "--binary", serviceBinary]

    let first = try runCommand(installer, install)
    #expect(first.status == 0, "\(first.output)\(first.errors)")
    for path in [
      "usr/local/bin/contacts-fcgi", "etc/systemd/system/contacts.service", "etc/systemd/system/contacts.socket",
      "etc/systemd/system/contacts-activated.service", "etc/contacts/contacts.json",
      "etc/nginx/snippets/contacts-http.conf", "etc/nginx/snippets/contacts-params.conf",
      "etc/nginx/snippets/contacts-locations.conf", "etc/nginx/snippets/contacts-ops-params.conf",
      "etc/nginx/snippets/contacts-common-params.conf", "etc/nginx/snippets/contacts-auth/basic.conf",
      "etc/nginx/snippets/contacts-auth/auth-request.conf", "etc/nginx/snippets/contacts-auth/client-certificate.conf",
      "etc/nginx/contacts/cors-origins.map", "usr/share/contacts/openapi.json",
      "usr/share/contacts/dashboard/index.html",
    ] {
      #expect(FileManager.default.fileExists(atPath: root.file(path)), "not installed: \(path)")
      #expect(first.output.contains("installed  /\(path)"), "not reported: \(path)")
    }
    #expect(try permissions(root.file("var/lib/contacts")) == 0o700)
    #expect(try permissions(root.file("usr/local/bin/contacts-fcgi")) == 0o755)
    let check = try runCommand(
      root.file("usr/local/bin/contacts-fcgi"), ["config", "check", root.file("etc/contacts/contacts.json")])
    #expect(check.status == 0, "\(check.errors)")

    // The admin's own edits survive a reinstall; the data directory is left alone.
    let config = root.file("etc/contacts/contacts.json")
    try #"{"workers": 3}"#.write(toFile: config, atomically: true, encoding: .utf8)
    try "{}".write(toFile: root.file("var/lib/contacts/users.json"), atomically: true, encoding: .utf8)

    let before = try listing(root.path)
    let second = try runCommand(installer, install)
    #expect(second.status == 0, "\(second.output)\(second.errors)")
    #expect(try listing(root.path) == before, "the second run changed files")
    #expect(second.output.contains("nothing changed"), "\(second.output)")
    #expect(!second.output.contains("installed  /") && !second.output.contains("updated    /"), "\(second.output)")
    #expect(second.output.contains("unchanged  /usr/local/bin/contacts-fcgi"))
    #expect(try String(contentsOfFile: config, encoding: .utf8) == #"{"workers": 3}"#)

    // A changed product file is replaced, and reported as such; nothing else is touched.
    let unit = root.file("etc/systemd/system/contacts.service")
    try "stale".write(toFile: unit, atomically: true, encoding: .utf8)
    let third = try runCommand(installer, install)
    #expect(third.status == 0)
    #expect(third.output.contains("updated    /etc/systemd/system/contacts.service"), "\(third.output)")
    #expect(!third.output.contains("nothing changed"))
    func outsideUnits(_ listing: String) -> [Substring] {
      listing.split(separator: "\n").filter { !$0.contains("etc/systemd/system") }
    }
    #expect(try outsideUnits(listing(root.path)) == outsideUnits(before))
    #expect(
      try String(contentsOfFile: unit, encoding: .utf8)
        == String(
          contentsOfFile: packageRoot.appendingPathComponent("deploy/systemd/contacts.service").path, encoding: .utf8))

    let uninstall = try runCommand(installer, ["--uninstall", "--root", root.path])
    #expect(uninstall.status == 0, "\(uninstall.output)\(uninstall.errors)")
    for path in [
      "usr/local/bin/contacts-fcgi", "etc/systemd/system/contacts.service", "etc/nginx/snippets/contacts-http.conf",
      "etc/nginx/snippets/contacts-auth", "usr/share/contacts",
    ] {
      #expect(!FileManager.default.fileExists(atPath: root.file(path)), "left behind: \(path)")
    }
    #expect(try String(contentsOfFile: config, encoding: .utf8) == #"{"workers": 3}"#)
    #expect(FileManager.default.fileExists(atPath: root.file("var/lib/contacts/users.json")))
    #expect(uninstall.output.contains("kept       /var/lib/contacts"))
    #expect(uninstall.output.contains("kept       /etc/contacts/contacts.json"))
    withExtendedLifetime(root) {}
  }
}

// MARK: - Fixtures

/// nginx's workers' group when the tests run as root: the socket is given to it.
let nginxGroup: String? = getuid() == 0 && getgrnam("www-data") != nil ? "www-data" : nil

func importDemoData(into dataDirectory: String) throws {
  for kind in ["users", "queues"] {
    let demo = packageRoot.appendingPathComponent("deploy/demo/\(kind).json").path
    let result = try runCommand(serviceBinary, ["import", kind, demo, "--data-dir", dataDirectory])
    guard result.status == 0 else { throw HTTPClientError(description: "import failed: \(result.errors)") }
  }
}

/// The path of a tool the test needs, installed with apt-get (as root) when missing, as
/// deploy/lib.sh's ensure_packages does.
func requireTool(_ path: String, package: String) throws -> String {
  if FileManager.default.isExecutableFile(atPath: path) { return path }
  if getuid() == 0 {
    let install = try runCommand(
      "/usr/bin/apt-get", ["install", "-y", "-qq", "--no-install-recommends", package],
      environment: ["DEBIAN_FRONTEND": "noninteractive"])
    if install.status == 0, FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  throw HTTPClientError(description: "\(path) is missing: apt-get install \(package)")
}

private func permissions(_ path: String) throws -> Int {
  let attributes = try FileManager.default.attributesOfItem(atPath: path)
  return (attributes[.posixPermissions] as? Int) ?? -1
}

/// Every path under `root` with its mode, modification time and (for files) content checksum.
private func listing(_ root: String) throws -> String {
  let result = try runCommand(
    "/bin/sh",
    [
      "-c",
      #"cd "$1" && find . -printf '%p %m %T@ %s\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum"#,
      "listing", root,
    ])
  guard result.status == 0 else { throw HTTPClientError(description: "listing failed: \(result.errors)") }
  return result.output
}

/// A process running in the background with its stderr and stdout in a log file; stopped with
/// SIGTERM (then SIGKILL) when released.
final class BackgroundProcess: @unchecked Sendable {
  // @unchecked: used from one test at a time; `process` is only touched through these methods.
  private let process = Process()
  private let logPath: String

  init(_ executable: String, _ arguments: [String], log: String) throws {
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

  var isRunning: Bool { process.isRunning }

  func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// Stops the process; returns its exit status (or -signal if a signal ended it).
  @discardableResult
  func stop() -> Int32 {
    if process.isRunning {
      process.terminate()
      if !eventually(within: 10, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
    }
    return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
  }

  deinit { stop() }
}

/// `contacts-fcgi serve` on its own socket with the demo directory imported.
final class ResponderPool {
  let socketPath: String
  private let process: BackgroundProcess

  init(in directory: TemporaryDirectory, workers: Int = 2) throws {
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

/// A stand-in identity service for `auth_request`: maps a bearer token to X-Contacts-User and
/// X-Contacts-Roles, answers 401 without a known token and 403 for a blocked one. Deliberately
/// naive: it trusts X-Contacts-* request headers, so only nginx's stripping keeps clients out.
final class StubIdentityService {
  let port = freePort()
  private let process: BackgroundProcess
  private let seenPath: String

  static let script = #"""
    import http.server, json, signal, sys
    # The test runner may start children with SIGTERM blocked; stopping relies on it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    TOKENS = {"agent-token": ("agent", "Agent"), "admin-token": ("admin", "Contact Center Admin"),
              "guest-token": ("guest", "")}
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with open(sys.argv[2], "a") as seen:
                seen.write(json.dumps({"path": self.path, "headers": list(self.headers.keys())}) + "\n")
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            if token == "blocked-token":
                return self.answer(403, {})
            if token not in TOKENS:
                return self.answer(401, {"WWW-Authenticate": 'Bearer realm="contacts"'})
            user, roles = TOKENS[token]
            user = self.headers.get("X-Contacts-User", user)
            roles = self.headers.get("X-Contacts-Roles", roles)
            self.answer(200, {"X-Contacts-User": user, "X-Contacts-Roles": roles})
        def answer(self, status, headers):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *arguments):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """#

  init(in directory: TemporaryDirectory) throws {
    let scriptPath = directory.file("identity.py")
    try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    seenPath = directory.file("identity-seen.jsonl")
    process = try BackgroundProcess(
      "/usr/bin/env", ["python3", scriptPath, String(port), seenPath], log: directory.file("identity.log"))
    let port = port
    guard eventually(within: 10, { isListening(port: port) }) else {
      throw HTTPClientError(description: "the identity stub did not start: \(process.log())")
    }
  }

  /// The names of every request header the identity service received.
  func requestHeaderNames() -> Set<String> {
    let lines = ((try? String(contentsOfFile: seenPath, encoding: .utf8)) ?? "").split(separator: "\n")
    return Set(
      lines.flatMap { line -> [String] in
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return object?["headers"] as? [String] ?? []
      })
  }
}

/// A CA, a server certificate for 127.0.0.1, and client certificates: "agent" (mapped to the
/// Agent role), "admin" (Contact Center Admin), "visitor" (valid, no role) and "rogue" (the
/// agent's subject, self-signed).
struct TestPKI {
  let folder: String
  var caCertificate: String { "\(folder)/ca.pem" }
  var serverCertificate: String { "\(folder)/server.pem" }
  var serverKey: String { "\(folder)/server.key" }
  static let agentSubject = "CN=agent,OU=Agents,O=Contacts Test"
  static let adminSubject = "CN=admin,OU=Admins,O=Contacts Test"

  init(in directory: TemporaryDirectory) throws {
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
  func client(_ name: String) -> [String] { ["--cert", "\(folder)/\(name).pem", "--key", "\(folder)/\(name).key"] }

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

/// An nginx with a configuration of the test's own: a minimal nginx.conf with pid, logs and
/// temp paths in the test's folder, the repository's snippets linked under its conf folder's
/// snippets/ (as under /etc/nginx), the site files under contacts/, and a server block that
/// includes one authentication variant, snippets/contacts-server.conf and
/// snippets/contacts-locations.conf.
final class OwnNginx {
  enum Variant {
    case basic
    case authRequest(port: UInt16)
    case clientCertificate(TestPKI)
  }

  let port: UInt16
  let prefix: String
  private let process: BackgroundProcess

  var client: HTTPClient { HTTPClient(port: port) }

  /// - Parameters:
  ///   - variant: the authentication variant to include.
  ///   - httpConfig: extra http-level lines (for example whole servers).
  ///   - serverBlock: write the server block that includes the snippet (false: `httpConfig` has one).
  init(
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

  func stop() { process.stop() }
}

/// Whether something accepts connections on 127.0.0.1:`port`.
func isListening(port: UInt16) -> Bool {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = port.bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  return withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
    }
  }
}

/// A response fetched with curl (for TLS: client certificates, HTTP/2, protocol versions).
struct CurlResponse: CustomStringConvertible {
  var status: Int
  var httpVersion: String
  var headers: [(name: String, value: String)]
  var text: String

  func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
  var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] }
  var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
  var description: String { "\(status) \(headers.map { "\($0.name): \($0.value)" }) \(text.prefix(300))" }
}

func curl(_ arguments: [String]) throws -> CurlResponse {
  let result = try runCommand("/usr/bin/curl", ["-sS", "-i", "--max-time", "10"] + arguments)
  guard result.status == 0 else { throw HTTPClientError(description: "curl \(arguments): \(result.errors)") }
  // curl has already decoded any chunking; the head is parsed as the raw client does.
  let response = try HTTPClient.parse(Array(result.output.utf8), method: "GET")
  let version = result.output.prefix { $0 != " " }.dropFirst("HTTP/".count)
  return CurlResponse(
    status: response.status, httpVersion: String(version), headers: response.headers, text: response.text)
}
