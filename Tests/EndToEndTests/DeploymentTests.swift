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
@Suite(.serialized, .tags(.endToEnd))
struct DeploymentTests {
  // MARK: Authentication variants

  @Test func basicAuthVariantAnswersAgentGuestAndAnonymousInOwnServerBlock() throws {
    // The real-IP lines let the test appear as a remote client while bound to 127.0.0.1.
    let deployment = try OwnDeployment(
      "contacts-deploy", authentication: .basic,
      extraServerConfig: OwnDeployment.clientAddressFromForwardedFor)
    let client = deployment.client

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
    #expect(try client.request("GET", "/_contacts/metrics").text.contains("contacts_requests_total"))
    let remote = [("X-Forwarded-For", "203.0.113.7")]
    #expect(try client.request("GET", "/_contacts/status", headers: remote).status == 403)
    #expect(try client.request("GET", "/_contacts/ping", headers: remote).status == 403)
    #expect(try client.request("GET", "/_contacts/metrics", headers: remote).status == 403)
    #expect(try client.request("GET", "/contacts", user: "agent", headers: remote).status == 200)
    withExtendedLifetime(deployment) {}
  }

  @Test func authRequestVariantTakesIdentityOnlyFromTheIdentityService() throws {
    let deployment = try OwnDeployment("contacts-deploy", authentication: .authRequest)
    let identity = try #require(deployment.identity)
    let client = deployment.client
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
    withExtendedLifetime(deployment) {}
  }

  @Test func clientCertificateVariantMapsTheSubjectToUserAndRoles() throws {
    let deployment = try OwnDeployment("contacts-deploy", authentication: .clientCertificate)
    let pki = try #require(deployment.pki)
    let url = "https://127.0.0.1:\(deployment.nginx.port)"

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
    withExtendedLifetime(deployment) {}
  }

  // MARK: CORS

  @Test func corsPreflightIsAnsweredBeforeAuthenticationForListedOriginsOnly() throws {
    let deployment = try OwnDeployment("contacts-deploy", authentication: .basic)
    let client = deployment.client
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
    withExtendedLifetime(deployment) {}
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
    try #require(
      eventually(within: 10) { spawned.log().contains("\"worker_ready\"") }, "no worker became ready: \(spawned.log())")
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
    #expect(try filePermissions(root.file("var/lib/contacts")) == 0o700)
    #expect(try filePermissions(root.file("usr/local/bin/contacts-fcgi")) == 0o755)
    let check = try runCommand(
      root.file("usr/local/bin/contacts-fcgi"), ["config", "check", root.file("etc/contacts/contacts.json")])
    #expect(check.status == 0, "\(check.errors)")

    // The admin's own edits survive a reinstall; the data directory is left alone.
    let config = root.file("etc/contacts/contacts.json")
    try #"{"workers": 3}"#.write(toFile: config, atomically: true, encoding: .utf8)
    try "{}".write(toFile: root.file("var/lib/contacts/users.json"), atomically: true, encoding: .utf8)

    let before = try treeListing(root.path)
    let second = try runCommand(installer, install)
    #expect(second.status == 0, "\(second.output)\(second.errors)")
    #expect(try treeListing(root.path) == before, "the second run changed files")
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
    #expect(try outsideUnits(treeListing(root.path)) == outsideUnits(before))
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
