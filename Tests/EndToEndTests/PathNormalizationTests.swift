import Foundation
import TestSupport
import Testing

/// nginx picks a location from the normalized path ("/contacts/../_contacts/ping" is matched as
/// "/_contacts/ping"), while the responder is handed the raw one. No raw path may make nginx
/// match a location that does not authenticate while the responder serves, or writes to, the
/// API as somebody: with every authentication variant, without credentials or with wrong ones,
/// against every location, nothing but the public documents answers 2xx, no contact data comes
/// back, and nothing is written. Paths are sent byte for byte as written (HTTPClient and the TLS
/// batch client (TLSBatchClient) send the request line verbatim; curl would need --path-as-is).
@Suite(.serialized, .tags(.endToEnd))
struct PathNormalizationTests {
  /// Every location contacts-locations.conf serves.
  static let locations = [
    "/contacts", "/contacts/user-joej", "/_contacts/status", "/_contacts/ping", "/_contacts/metrics",
    "/contacts/openapi.json",
    "/dashboard/",
  ]

  /// From every location to every other one, through dot segments spelled in every way nginx
  /// decodes, plus the forms reported or worth a thought on their own.
  static let paths: [String] = {
    var paths: [String] = []
    let dots = ["..", "%2e%2e", "%2E%2e", ".%2e", "%2e."]
    let slashes = ["/", "%2f", "%2F", "//"]
    for from in locations {
      let depth = from.split(separator: "/").count
      for to in locations where to != from {
        for dot in dots {
          for slash in slashes {
            let base = from.hasSuffix("/") ? from : from + slash
            paths.append(base + String(repeating: dot + slash, count: depth) + to.dropFirst())
          }
        }
      }
    }
    paths += [
      "/contacts&x=/../_contacts/ping", "/contacts&x=/../_contacts/status", "/contacts&q=/../_contacts/ping",
      "/contacts&q=/../_contacts/status", "/contacts&type=User/../../_contacts/ping",
      "/contacts/user-joej&x=/../../_contacts/ping", "/contacts;/../_contacts/ping", "/contacts;x=/../_contacts/status",
      "/contacts/user-joej;x/../../_contacts/ping", "/_contacts/ping;/../../contacts", "/_contacts/ping;x",
      "/_contacts/ping/../../contacts", "/_contacts/status/../../contacts/user-joej", "/contacts/..%2f_contacts/status",
      "/contacts/..%2F_contacts/ping", "/contacts%2f..%2f_contacts%2fping", "/contacts/%2e%2e/_contacts/ping",
      "/contacts/%2E%2E/_contacts/status", "/_contacts/./ping", "/_contacts/ping/.", "/_contacts/ping/./",
      "//_contacts//ping", "//_contacts/status", "/./_contacts/ping", "/_contacts/%2e/ping", "/contacts/./",
      "/./contacts", "//contacts", "/contacts/%2e/user-joej", "/contacts//user-joej", "/contacts%3f/../_contacts/ping",
      "/contacts%23/../_contacts/ping", "/contacts%00/../_contacts/ping", "/contacts/openapi.json/../../_contacts/ping",
      "/contacts/openapi.json/..", "/contacts/openapi.json/../", "/contacts/openapi.json%2f..%2f",
      "/contacts/openapi.json;/../../contacts", "/dashboard/../contacts", "/dashboard/..%2fcontacts",
      "/dashboard/../_contacts/ping/../../contacts", "/contacts/../../_contacts/ping", "/contacts/..%2f..%2fetc",
      "/_contacts/ping%2f..%2f..%2fcontacts", "/_contacts/ping/..%2f..%2fcontacts/user-joej",
      "/contacts?x=/../_contacts/ping", "/_contacts/ping?/../../contacts",
    ]
    return paths
  }()

  static let body = Array(#"{"name":"Bypass","phoneNumber":"555 0199"}"#.utf8)

  @Test func basicAuthWithoutOrWithWrongCredentials() throws {
    let deployment = try OwnDeployment("contacts-paths", authentication: .basic)
    let client = deployment.client
    func customCount() throws -> Int {
      let listing = try client.request("GET", "/contacts?type=Custom", user: "admin")
      #expect(listing.status == 200, "\(listing)")
      return listing.contacts.count
    }
    let before = try customCount()
    let wrong = [("Authorization", "Basic \(Data("admin:WRONG".utf8).base64EncodedString())")]
    var failures: [String] = []
    for credentials in [[], wrong] {
      for path in Self.paths {
        for method in ["GET", "POST"] {
          let response = try client.request(
            method, path, headers: credentials, body: method == "POST" ? Self.body : nil)
          failures += Self.problems(response, "\(method) \(path) \(credentials.isEmpty ? "anonymous" : "admin:WRONG")")
        }
      }
    }
    #expect(failures.isEmpty, "\(failures.count) leaks, e.g.:\n\(failures.prefix(15).joined(separator: "\n"))")
    #expect(try customCount() == before, "a write got through")
    withExtendedLifetime(deployment) {}
  }

  @Test func authRequestWithoutOrWithRefusedIdentity() throws {
    let deployment = try OwnDeployment("contacts-paths", authentication: .authRequest)
    let client = deployment.client
    func customCount() throws -> Int {
      let listing = try client.request(
        "GET", "/contacts?type=Custom", headers: [("Authorization", "Bearer admin-token")])
      #expect(listing.status == 200, "\(listing)")
      return listing.contacts.count
    }
    let before = try customCount()
    var failures: [String] = []
    // No token; one the service does not know (401); one it refuses outright (403).
    for credentials in [[], [("Authorization", "Bearer forged")], [("Authorization", "Bearer blocked-token")]] {
      for path in Self.paths {
        for method in ["GET", "POST"] {
          let response = try client.request(
            method, path, headers: credentials, body: method == "POST" ? Self.body : nil)
          failures += Self.problems(response, "\(method) \(path) \(credentials.first?.1 ?? "anonymous")")
        }
      }
    }
    #expect(failures.isEmpty, "\(failures.count) leaks, e.g.:\n\(failures.prefix(15).joined(separator: "\n"))")
    #expect(try customCount() == before, "a write got through")
    withExtendedLifetime(deployment) {}
  }

  @Test func clientCertificateWithoutOrWithARogueCertificate() throws {
    let deployment = try OwnDeployment("contacts-paths", authentication: .clientCertificate)
    let tls = TLSBatchClient(
      port: deployment.nginx.port, pki: try #require(deployment.pki), directory: deployment.directory)
    func customCount() throws -> Int {
      let listing = try tls.send([rawRequest("GET", "/contacts?type=Custom")], certificate: "admin")[0]
      #expect(listing.status == 200, "\(listing)")
      return listing.contacts.count
    }
    let before = try customCount()
    var failures: [String] = []
    for certificate in [nil, "rogue"] {
      var requests: [(String, [UInt8])] = []
      for path in Self.paths {
        for method in ["GET", "POST"] {
          requests.append(
            (
              "\(method) \(path) \(certificate ?? "no certificate")",
              rawRequest(method, path, body: method == "POST" ? Self.body : nil)
            ))
        }
      }
      let responses = try tls.send(requests.map(\.1), certificate: certificate)
      for (request, response) in zip(requests, responses) { failures += Self.problems(response, request.0) }
    }
    #expect(failures.isEmpty, "\(failures.count) leaks, e.g.:\n\(failures.prefix(15).joined(separator: "\n"))")
    #expect(try customCount() == before, "a write got through")
    withExtendedLifetime(deployment) {}
  }

  /// What is wrong with an answer to a request that must not be served: a 2xx other than the
  /// public documents (the OpenAPI document, ping, status and metrics, which carry no identity), or
  /// contact data in the body.
  static func problems(_ response: HTTPResponse, _ request: String) -> [String] {
    let json = response.json
    let isOpenAPIDocument = json?["openapi"] != nil
    let isPing = response.text == "pong\n"
    let isStatus = json?["workers"] != nil && json?["contacts"] == nil
    let isMetrics = response.text.hasPrefix("# HELP contacts_")
    var problems: [String] = []
    if (200..<300).contains(response.status) && !(isOpenAPIDocument || isPing || isStatus || isMetrics) {
      problems.append("\(request) → \(response)")
    }
    if !isOpenAPIDocument && (response.text.contains(#""contacts""#) || response.text.contains(#""phoneNumber""#)) {
      problems.append("\(request) → contact data: \(response)")
    }
    return problems
  }
}
